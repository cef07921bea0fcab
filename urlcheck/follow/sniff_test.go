package follow

import (
	"encoding/binary"
	"testing"
)

func TestSniff(t *testing.T) {
	pe := make([]byte, 256)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	notPE := make([]byte, 256)
	copy(notPE, "MZ is a text that starts like this")
	binary.LittleEndian.PutUint32(notPE[0x3c:], 0x80)

	tests := []struct {
		name, ctype, file, body string
		want                    Kind
		magic                   string
	}{
		{"pe", "application/pdf", "invoice.pdf", string(pe), KindExecutable, "pe"},
		{"elf", "", "", "\x7fELF\x02\x01\x01", KindExecutable, "elf"},
		{"macho", "", "", "\xcf\xfa\xed\xfe\x07\x00", KindExecutable, "mach-o"},
		{"zip", "application/zip", "", "PK\x03\x04rest", KindArchive, "zip"},
		{"docm", "", "", "PK\x03\x04..[Content_Types].xml..word/vbaProject.bin", KindMacroDoc, "zip+vba"},
		{"docx", "", "", "PK\x03\x04..[Content_Types].xml..word/document.xml", KindOther, "ooxml"},
		{"ole2 vba", "", "", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1.._\x00V\x00B\x00A\x00_\x00P\x00R\x00O\x00J\x00E\x00C\x00T\x00", KindMacroDoc, "ole2+vba"},
		{"ole2", "", "", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1....", KindMacroDoc, "ole2"},
		{"rar", "", "", "Rar!\x1a\x07\x01\x00", KindArchive, "rar"},
		{"7z", "", "", "7z\xbc\xaf\x27\x1c\x00", KindArchive, "7z"},
		{"gzip", "", "", "\x1f\x8b\x08\x00", KindArchive, "gzip"},
		{"exe type", "application/x-msdownload", "", "....", KindExecutable, ""},
		{"macro type", "application/vnd.ms-excel.sheet.macroEnabled.12", "", "....", KindMacroDoc, ""},
		{"js type", "text/javascript; charset=utf-8", "", "alert(1)", KindScript, ""},
		{"hta name", "application/octet-stream", "update.hta", "<html>", KindScript, "ext:.hta"},
		{"exe name", "application/octet-stream", "setup.exe", "....", KindExecutable, "ext:.exe"},
		{"shebang", "text/plain", "", "#!/bin/sh\ncurl x | sh", KindScript, "shebang"},
		{"mz text", "text/plain", "", string(notPE), KindPage, ""},
		{"html", "text/html", "", "<html><p>hi</p>", KindPage, ""},
		{"html untyped", "", "", "<!doctype html><p>hi</p>", KindPage, ""},
		{"png", "image/png", "", "\x89PNG\r\n\x1a\n", KindOther, ""},
		{"empty", "text/html", "", "", KindOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Sniff(tt.ctype, tt.file, []byte(tt.body))
			if s.Kind != tt.want || s.Magic != tt.magic {
				t.Errorf("Sniff = %+v, want kind %s magic %q", s, tt.want, tt.magic)
			}
			if s.MIME == "" {
				t.Error("no sniffed MIME type")
			}
		})
	}
}

func TestFileName(t *testing.T) {
	if got := fileName(`attachment; filename="a b.exe"`, "/x/y.pdf"); got != "a b.exe" {
		t.Errorf("disposition: %q", got)
	}
	if got := fileName("", "/x/y.pdf"); got != "y.pdf" {
		t.Errorf("path: %q", got)
	}
}

func FuzzSniff(f *testing.F) {
	f.Add("application/zip", "a.zip", []byte("PK\x03\x04"))
	f.Add("", "", []byte("MZ"))
	f.Fuzz(func(t *testing.T, ctype, name string, body []byte) {
		s := Sniff(ctype, name, body)
		if s.Kind == KindNone {
			t.Fatalf("no kind for %q %q %q", ctype, name, body)
		}
	})
}
