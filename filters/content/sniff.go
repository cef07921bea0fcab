package content

import (
	"bytes"
	"path"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

// sniff tells what data (the first bytes of a file, or all of it) is by
// its magic numbers and structure; name decides only for what bytes
// cannot tell (scripts and shortcuts are text) and between an Office
// document and the other archives of the same container. It returns the
// kind and, for containers, their format.
func sniff(data []byte, name string) (filters.FileKind, string) {
	ext := strings.ToLower(path.Ext(strings.TrimSpace(name)))
	switch {
	case bytes.HasPrefix(data, []byte("MZ")) && len(data) >= 64:
		return filters.FileExecutable, "pe"
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		return filters.FileExecutable, "elf"
	case bytes.HasPrefix(data, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(data, []byte{0xce, 0xfa, 0xed, 0xfe}),
		bytes.HasPrefix(data, []byte{0xca, 0xfe, 0xba, 0xbe}) && ext != ".class":
		return filters.FileExecutable, "mach-o"
	case bytes.HasPrefix(data, []byte{0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0}):
		// MS-SHLLINK §2.1: HeaderSize 0x4C and the LinkCLSID 00021401-....
		return filters.FileShortcut, "lnk"
	case bytes.HasPrefix(data, []byte("%PDF-")) || (len(data) > 5 && bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-"))):
		// Readers accept the header anywhere in the first 1024 bytes.
		return filters.FilePDF, ""
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return filters.FileArchive, "zip" // refined by the archive reader (ooxml, jar)
	case bytes.HasPrefix(data, []byte("Rar!\x1a\x07")):
		return filters.FileArchive, "rar"
	case bytes.HasPrefix(data, []byte("7z\xbc\xaf\x27\x1c")):
		return filters.FileArchive, "7z"
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		return filters.FileArchive, "gzip"
	case bytes.HasPrefix(data, []byte("BZh")) && len(data) > 4 && data[3] >= '1' && data[3] <= '9':
		return filters.FileArchive, "bzip2"
	case bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return filters.FileArchive, "xz"
	case bytes.HasPrefix(data, []byte("MSCF\x00\x00\x00\x00")):
		return filters.FileArchive, "cab"
	case len(data) > 14 && data[0] != 0 && bytes.Equal(data[7:14], []byte("**ACE**")):
		return filters.FileArchive, "ace"
	case bytes.HasPrefix(data, []byte{0x60, 0xea}):
		return filters.FileArchive, "arj"
	case len(data) >= 262 && bytes.Equal(data[257:262], []byte("ustar")):
		return filters.FileArchive, "tar"
	case bytes.HasPrefix(data, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}):
		return oleKind(data, ext)
	case bytes.HasPrefix(data, []byte{0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d}):
		// MS-ONESTORE §2.3.1: the revision store file GUID.
		return filters.FileOneNote, ""
	case bytes.HasPrefix(data, []byte("ITSF")):
		return filters.FileHelp, ""
	case bytes.HasPrefix(data, []byte("conectix")), bytes.HasPrefix(data, []byte("vhdxfile")):
		return filters.FileDiskImage, "vhd"
	case isISO(data):
		return filters.FileDiskImage, "iso"
	case bytes.HasPrefix(data, []byte(`{\rtf`)):
		return filters.FileOffice, "rtf"
	case imageMagic(data):
		return filters.FileImage, ""
	}
	if ext == ".dmg" || ext == ".img" || ext == ".iso" || ext == ".vhd" || ext == ".vhdx" {
		// A disk image too short (content caps) for its signature.
		return filters.FileDiskImage, strings.TrimPrefix(ext, ".")
	}
	return sniffText(data, ext)
}

// isISO finds the ISO 9660 / UDF volume descriptor at 32769 (sector 16).
func isISO(data []byte) bool {
	const off = 0x8001
	if len(data) < off+5 {
		return false
	}
	id := data[off : off+5]
	return bytes.Equal(id, []byte("CD001")) || bytes.Equal(id, []byte("BEA01")) || bytes.Equal(id, []byte("NSR02"))
}

func imageMagic(data []byte) bool {
	return bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}) ||
		bytes.HasPrefix(data, []byte("GIF8")) || bytes.HasPrefix(data, []byte("BM")) && len(data) > 26 ||
		len(data) > 12 && bytes.HasPrefix(data, []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")) ||
		bytes.HasPrefix(data, []byte("II*\x00")) || bytes.HasPrefix(data, []byte("MM\x00*"))
}

// oleKind reads an OLE2 compound file (MS-CFB): an MSI installer, or an
// Office document, with macros when a VBA project storage is named in
// its directory. The directory entry names are UTF-16LE; they are looked
// for anywhere in the bytes read, which finds them without following the
// sector chains (a bounded, forgiving read of a hostile file).
func oleKind(data []byte, ext string) (filters.FileKind, string) {
	switch {
	case ext == ".msi" || ext == ".msp" || bytes.Contains(data, utf16le("SummaryInformation")) && bytes.Contains(data, []byte("Windows Installer")):
		return filters.FileExecutable, "msi"
	case bytes.Contains(data, utf16le("_VBA_PROJECT")) || bytes.Contains(data, utf16le("Macros")):
		return filters.FileMacroDoc, "ole2"
	}
	return filters.FileOffice, "ole2"
}

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}

// scriptExts run on double-click under Windows (Windows Script Host,
// mshta, PowerShell, cmd) or are shortcuts to something that does.
var scriptExts = map[string]filters.FileKind{
	".js": filters.FileScript, ".jse": filters.FileScript, ".vbs": filters.FileScript, ".vbe": filters.FileScript,
	".wsf": filters.FileScript, ".wsh": filters.FileScript, ".hta": filters.FileScript, ".ps1": filters.FileScript,
	".psm1": filters.FileScript, ".bat": filters.FileScript, ".cmd": filters.FileScript, ".scr": filters.FileExecutable,
	".exe": filters.FileExecutable, ".com": filters.FileExecutable, ".pif": filters.FileExecutable, ".cpl": filters.FileExecutable,
	".msi": filters.FileExecutable, ".jar": filters.FileExecutable, ".apk": filters.FileExecutable, ".reg": filters.FileScript,
	".vb": filters.FileScript, ".sct": filters.FileScript, ".xll": filters.FileExecutable, ".appref-ms": filters.FileShortcut,
	".lnk": filters.FileShortcut, ".url": filters.FileShortcut, ".scf": filters.FileShortcut, ".library-ms": filters.FileShortcut,
	".settingcontent-ms": filters.FileShortcut, ".chm": filters.FileHelp, ".one": filters.FileOneNote,
	".iso": filters.FileDiskImage, ".img": filters.FileDiskImage, ".vhd": filters.FileDiskImage, ".vhdx": filters.FileDiskImage,
	".docm": filters.FileMacroDoc, ".xlsm": filters.FileMacroDoc, ".pptm": filters.FileMacroDoc, ".dotm": filters.FileMacroDoc,
	".xlam": filters.FileMacroDoc, ".ppam": filters.FileMacroDoc,
}

// sniffText tells text files apart: HTML and SVG by their markup, script
// and shortcut files by content markers or, failing those, their name
// (a script is plain text; its extension is what makes Windows run it).
func sniffText(data []byte, ext string) (filters.FileKind, string) {
	head := bytes.ToLower(data[:min(len(data), 4096)])
	head = bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	switch {
	case bytes.Contains(head, []byte("<hta:application")):
		return filters.FileScript, "hta"
	case bytes.HasPrefix(head, []byte("[internetshortcut]")), bytes.Contains(head, []byte("[.shellclassinfo]")):
		return filters.FileShortcut, "url"
	case bytes.Contains(head, []byte("<svg")) && (bytes.HasPrefix(head, []byte("<svg")) || bytes.HasPrefix(head, []byte("<?xml")) || bytes.HasPrefix(head, []byte("<!doctype svg"))):
		return filters.FileSVG, ""
	case bytes.HasPrefix(head, []byte("<!doctype html")), bytes.HasPrefix(head, []byte("<html")), bytes.HasPrefix(head, []byte("<head")),
		bytes.HasPrefix(head, []byte("<script")), bytes.HasPrefix(head, []byte("<body")), bytes.HasPrefix(head, []byte("<meta")),
		bytes.HasPrefix(head, []byte("<!--")) && bytes.Contains(head, []byte("<html")):
		return filters.FileHTML, ""
	}
	if k, ok := scriptExts[ext]; ok {
		return k, strings.TrimPrefix(ext, ".")
	}
	switch ext {
	case ".html", ".htm", ".shtml", ".xhtml", ".mht", ".mhtml":
		return filters.FileHTML, ""
	case ".svg":
		return filters.FileSVG, ""
	}
	if isText(data) {
		return filters.FileText, ""
	}
	return filters.FileOther, ""
}

// isText: no NUL and mostly printable in the first 4 KiB.
func isText(data []byte) bool {
	head := data[:min(len(data), 4096)]
	if len(head) == 0 || bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	ctl := 0
	for _, c := range head {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' {
			ctl++
		}
	}
	return ctl*20 < len(head)
}
