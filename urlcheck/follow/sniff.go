package follow

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Kind is what the landing content is, as far as mail filtering cares.
type Kind string

const (
	KindNone       Kind = ""           // nothing was fetched
	KindPage       Kind = "page"       // HTML or text
	KindExecutable Kind = "executable" // PE, ELF, Mach-O, installers
	KindArchive    Kind = "archive"    // zip, rar, 7z, gzip, ...
	KindScript     Kind = "script"     // JavaScript, VBScript, shell, HTA, ...
	KindMacroDoc   Kind = "macro-doc"  // office documents that carry or can carry macros
	KindOther      Kind = "other"      // images, PDFs and everything else
)

// Sniffed is the classification of a response body.
type Sniffed struct {
	Kind Kind `json:"kind"`
	// MIME is net/http.DetectContentType of the body (WHATWG MIME
	// sniffing), without parameters.
	MIME string `json:"mime"`
	// Magic names the signature that decided Kind ("pe", "zip+vba",
	// "ext:.js", ...), "" when the content type decided.
	Magic string `json:"magic,omitempty"`
}

var (
	magicOLE2  = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	magic7z    = []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}
	magicRar   = []byte("Rar!\x1a\x07")
	vbaUTF16   = []byte("_\x00V\x00B\x00A\x00_\x00P\x00R\x00O\x00J\x00E\x00C\x00T\x00")
	macroNames = [][]byte{[]byte("vbaProject.bin"), []byte("vbaProjectSignature.bin")}
)

// scriptExts and execExts are file name extensions that run when opened
// on a common desktop.
var (
	execExts   = map[string]bool{".exe": true, ".scr": true, ".msi": true, ".com": true, ".pif": true, ".dll": true, ".apk": true, ".dmg": true, ".pkg": true, ".appimage": true, ".deb": true, ".rpm": true, ".lnk": true, ".iso": true, ".img": true}
	scriptExts = map[string]bool{".js": true, ".jse": true, ".vbs": true, ".vbe": true, ".wsf": true, ".wsh": true, ".hta": true, ".ps1": true, ".bat": true, ".cmd": true, ".sh": true, ".jar": true}
	macroExts  = map[string]bool{".docm": true, ".dotm": true, ".xlsm": true, ".xltm": true, ".xlam": true, ".pptm": true, ".potm": true, ".ppam": true, ".ppsm": true, ".sldm": true}
	archExts   = map[string]bool{".zip": true, ".rar": true, ".7z": true, ".gz": true, ".tgz": true, ".bz2": true, ".xz": true, ".cab": true, ".ace": true, ".arj": true, ".tar": true}
)

// Sniff classifies body, served with the Content-Type header ctype, under
// the file name name (from Content-Disposition or the URL path; may be "").
// Signatures in the bytes win over the declared type, which wins over the
// name: a server can lie about the type, not about the bytes.
func Sniff(ctype, name string, body []byte) Sniffed {
	s := Sniffed{MIME: baseMIME(http.DetectContentType(body))}
	if k, m := magicKind(body); k != "" {
		s.Kind, s.Magic = k, m
		return s
	}
	declared := baseMIME(ctype)
	switch {
	case declared == "application/x-msdownload", declared == "application/x-msdos-program",
		declared == "application/x-executable", declared == "application/vnd.microsoft.portable-executable",
		declared == "application/x-mach-binary", declared == "application/vnd.android.package-archive",
		declared == "application/x-ms-installer", declared == "application/x-msi":
		s.Kind = KindExecutable
		return s
	case strings.Contains(declared, "macroenabled"):
		// application/vnd.ms-word.document.macroEnabled.12 and siblings.
		s.Kind = KindMacroDoc
		return s
	case declared == "text/javascript", declared == "application/javascript", declared == "application/x-javascript",
		declared == "text/vbscript", declared == "application/hta", declared == "application/x-sh",
		declared == "application/x-powershell", declared == "application/java-archive":
		s.Kind = KindScript
		return s
	}
	ext := strings.ToLower(path.Ext(name))
	switch {
	case execExts[ext]:
		s.Kind, s.Magic = KindExecutable, "ext:"+ext
		return s
	case scriptExts[ext]:
		s.Kind, s.Magic = KindScript, "ext:"+ext
		return s
	case macroExts[ext]:
		s.Kind, s.Magic = KindMacroDoc, "ext:"+ext
		return s
	case archExts[ext]:
		s.Kind, s.Magic = KindArchive, "ext:"+ext
		return s
	}
	if bytes.HasPrefix(body, []byte("#!")) {
		s.Kind, s.Magic = KindScript, "shebang"
		return s
	}
	if len(body) == 0 {
		s.Kind = KindOther
		return s
	}
	if strings.HasPrefix(declared, "text/") || declared == "application/xhtml+xml" || declared == "" ||
		strings.HasPrefix(s.MIME, "text/") {
		s.Kind = KindPage
		return s
	}
	s.Kind = KindOther
	return s
}

// magicKind classifies by file signature.
func magicKind(b []byte) (Kind, string) {
	switch {
	case bytes.HasPrefix(b, []byte("MZ")) && len(b) >= 64 && peSigned(b):
		return KindExecutable, "pe"
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return KindExecutable, "elf"
	case bytes.HasPrefix(b, []byte{0xFE, 0xED, 0xFA, 0xCE}), bytes.HasPrefix(b, []byte{0xFE, 0xED, 0xFA, 0xCF}),
		bytes.HasPrefix(b, []byte{0xCE, 0xFA, 0xED, 0xFE}), bytes.HasPrefix(b, []byte{0xCF, 0xFA, 0xED, 0xFE}):
		return KindExecutable, "mach-o"
	case bytes.HasPrefix(b, []byte{0xCA, 0xFE, 0xBA, 0xBE}):
		// Mach-O universal binary, or a Java class file: both run.
		return KindExecutable, "mach-o-fat"
	case bytes.HasPrefix(b, magicOLE2):
		// Compound File Binary: legacy .doc/.xls/.ppt (which can carry
		// VBA macros) and .msi installers.
		if bytes.Contains(b, vbaUTF16) || bytes.Contains(b, []byte("_\x00V\x00B\x00A\x00")) {
			return KindMacroDoc, "ole2+vba"
		}
		return KindMacroDoc, "ole2"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")), bytes.HasPrefix(b, []byte("PK\x05\x06")):
		// OOXML documents are zip files; the names of the entries are
		// stored in clear in the local headers and the central directory.
		for _, n := range macroNames {
			if bytes.Contains(b, n) {
				return KindMacroDoc, "zip+vba"
			}
		}
		if bytes.Contains(b, []byte("[Content_Types].xml")) {
			return KindOther, "ooxml"
		}
		if bytes.Contains(b, []byte("AndroidManifest.xml")) {
			return KindExecutable, "apk"
		}
		return KindArchive, "zip"
	case bytes.HasPrefix(b, magicRar):
		return KindArchive, "rar"
	case bytes.HasPrefix(b, magic7z):
		return KindArchive, "7z"
	case bytes.HasPrefix(b, []byte{0x1F, 0x8B}):
		return KindArchive, "gzip"
	case bytes.HasPrefix(b, []byte("BZh")) && len(b) > 3 && b[3] >= '1' && b[3] <= '9':
		return KindArchive, "bzip2"
	case bytes.HasPrefix(b, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}):
		return KindArchive, "xz"
	case bytes.HasPrefix(b, []byte("MSCF")):
		return KindArchive, "cab"
	}
	return "", ""
}

// peSigned reports whether the MZ header points at a "PE\0\0" signature
// (the e_lfanew field at offset 0x3c), or the pointer is past what we have.
func peSigned(b []byte) bool {
	off := int(b[0x3c]) | int(b[0x3d])<<8 | int(b[0x3e])<<16 | int(b[0x3f])<<24
	if off < 0 || off+4 > len(b) {
		// Truncated body: an MZ header alone is enough to be suspicious.
		return off >= 0x40
	}
	return bytes.Equal(b[off:off+4], []byte("PE\x00\x00"))
}

func baseMIME(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		if i := strings.IndexByte(ct, ';'); i >= 0 {
			ct = ct[:i]
		}
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// fileName is the name a browser would save the body under: the
// Content-Disposition filename (RFC 6266), else the last path segment.
func fileName(disposition, urlPath string) string {
	if disposition != "" {
		if _, p, err := mime.ParseMediaType(disposition); err == nil {
			if n := p["filename"]; n != "" {
				return n
			}
		}
	}
	return path.Base(urlPath)
}
