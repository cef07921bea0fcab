package filters

// FileKind is what the bytes of an attached file are, told by their
// content (magic numbers, structure), never by the declared media type;
// the name decides only where the bytes cannot (scripts are text).
type FileKind string

const (
	FileUnknown    FileKind = ""
	FileExecutable FileKind = "executable" // PE (MZ), ELF, Mach-O, an MSI installer
	FileScript     FileKind = "script"     // JavaScript, VBScript, WSF, HTA, PowerShell, batch, by name or content
	FileShortcut   FileKind = "shortcut"   // Windows .lnk, .url / .scf internet shortcuts, .library-ms
	FileDiskImage  FileKind = "disk-image" // ISO 9660 / UDF, VHD, VHDX, DMG
	FileMacroDoc   FileKind = "macro-document"
	FileOffice     FileKind = "office" // Office documents without macros (OLE2, OOXML, RTF)
	FileOneNote    FileKind = "onenote"
	FileHelp       FileKind = "chm" // compiled HTML help: runs script when opened
	FilePDF        FileKind = "pdf"
	FileHTML       FileKind = "html"
	FileSVG        FileKind = "svg"
	FileArchive    FileKind = "archive" // zip, rar, 7z, gzip, bzip2, xz, cab, tar, ace, arj (Attachment.Format)
	FileImage      FileKind = "image"
	FileText       FileKind = "text"
	FileOther      FileKind = "other"
)

// Dangerous reports a kind that runs code when the reader opens it, or
// mounts a file system that can hold such code.
func (k FileKind) Dangerous() bool {
	switch k {
	case FileExecutable, FileScript, FileShortcut, FileDiskImage, FileMacroDoc, FileOneNote, FileHelp:
		return true
	}
	return false
}

// Behaviour is something an attached document does when opened.
type Behaviour string

const (
	// BehaviourRedirect: an HTML or SVG file that sends the reader's
	// browser elsewhere (meta refresh, script setting location).
	BehaviourRedirect Behaviour = "redirect"
	// BehaviourEncodedPage: an HTML or SVG file that builds its page from
	// an encoded payload (atob, unescape, data:text/html;base64).
	BehaviourEncodedPage Behaviour = "encoded-page"
	// BehaviourScript: an SVG with script, or a PDF with JavaScript.
	BehaviourScript Behaviour = "script"
	// BehaviourLaunch: a PDF /Launch action (runs a program).
	BehaviourLaunch Behaviour = "launch"
	// BehaviourEmbedded: a PDF carrying embedded files.
	BehaviourEmbedded Behaviour = "embedded-file"
)

// Attachment is one file the message carries: every part with a file name
// or the attachment disposition, and every part of a type the reader does
// not see as the message (application/*, audio/*, ...).
type Attachment struct {
	// Name is the file name (RFC 2231 / RFC 2047 decoded), "" when none.
	Name string `json:"name,omitempty"`
	// Type is the declared media type.
	Type string   `json:"type"`
	Kind FileKind `json:"kind"`
	// Format names the container of an archive ("zip", "rar", "7z", ...)
	// or of a document ("ooxml", "ole2"); "" otherwise.
	Format string `json:"format,omitempty"`
	// Size is the decoded size in bytes (at most content.max_attachment_bytes
	// were read; Truncated says when there was more).
	Size      int64  `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	// Encrypted: an archive with an encrypted entry (or encrypted headers).
	Encrypted bool `json:"encrypted,omitempty"`
	// Entries are an archive's entries (at most content.max_archive_entries,
	// nested archives flattened with "outer/inner" names).
	Entries []ArchiveEntry `json:"entries,omitempty"`
	// Behaviours are what the file does when opened.
	Behaviours []Behaviour `json:"behaviours,omitempty"`
}

// ArchiveEntry is one file inside an archive.
type ArchiveEntry struct {
	Name      string   `json:"name"`
	Kind      FileKind `json:"kind,omitempty"`
	Encrypted bool     `json:"encrypted,omitempty"`
}

// Form is an HTML form (in the message body, or in an HTML, SVG or PDF
// attachment) as a credential harvester would build it.
type Form struct {
	// In is "body" or the name of the attachment it is in.
	In string `json:"in"`
	// Action is where it posts (absolute URL), "" when it posts back to
	// the page itself or the action is script.
	Action string `json:"action,omitempty"`
	// Password and Email: it asks for a password (input type=password,
	// or a PDF field so named) or an e-mail address / user name.
	Password bool `json:"password,omitempty"`
	Email    bool `json:"email,omitempty"`
}
