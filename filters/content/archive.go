package content

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"path"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

// maxNestedArchive is how deep archives inside archives are opened: one
// archive in another is how senders hide an executable from a filter
// that opens one level; deeper nesting is listed, not opened.
const maxNestedArchive = 2

// entryPeek is how much of an archive entry is decompressed to tell its
// kind; files that can hold links (HTML, SVG, PDF, text, shortcuts) are
// read whole within max_inflate_bytes.
const entryPeek = 64 << 10

// archive lists an archive's entries (names, kinds, encryption) and reads
// the files in it that can hold links, within max_archive_entries and
// max_inflate_bytes. Zip (and the Office and Java formats built on it) is
// opened; rar, 7z and gzip are read from their headers.
func (x *extractor) archive(a *filters.Attachment, data []byte, where string) {
	switch a.Format {
	case "zip":
		x.zip(a, data, where, "", 1)
	case "rar":
		x.rar(a, data)
	case "7z":
		// 7z's header is usually compressed; an encrypted one is marked
		// by the AES coder (06F10701) in the header database.
		if bytes.Contains(data[:min(len(data), 1<<20)], []byte{0x06, 0xf1, 0x07, 0x01}) {
			a.Encrypted = true
		}
	case "gzip":
		x.gzip(a, data, where)
	}
}

// zip opens a zip archive (APPNOTE.TXT) from its central directory.
func (x *extractor) zip(a *filters.Attachment, data []byte, where, prefix string, depth int) {
	// The directory's entry count is read first: archive/zip allocates
	// per entry, and a hostile directory claims millions.
	if n, ok := zipEntryCount(data); !ok || n > 10*x.cfg.MaxArchiveEntries+100 {
		x.bad("zip: directory missing or too large")
		return
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		x.bad("zip: " + err.Error())
		return
	}
	if depth == 1 {
		refineZip(a, zr)
		if a.Kind != filters.FileArchive {
			return // an Office document or a Java archive: told, not listed
		}
	}
	for _, f := range zr.File {
		if len(a.Entries) >= x.cfg.MaxArchiveEntries || x.ctx.Err() != nil {
			return
		}
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		e := filters.ArchiveEntry{Name: prefix + f.Name, Encrypted: f.Flags&1 != 0}
		a.Encrypted = a.Encrypted || e.Encrypted
		if e.Encrypted {
			// Encrypted: only the name can tell.
			e.Kind, _ = sniffText(nil, extOf(f.Name))
			a.Entries = append(a.Entries, e)
			continue
		}
		head, whole := x.inflate(f)
		var format string
		e.Kind, format = sniff(head, f.Name)
		a.Entries = append(a.Entries, e)
		switch {
		case e.Kind == filters.FileArchive && format == "zip" && depth < maxNestedArchive && whole:
			inner := filters.Attachment{Kind: filters.FileArchive, Format: "zip"}
			x.zip(&inner, head, where, e.Name+"/", depth+1)
			a.Entries = append(a.Entries, inner.Entries[:min(len(inner.Entries), x.cfg.MaxArchiveEntries-len(a.Entries))]...)
			a.Encrypted = a.Encrypted || inner.Encrypted
		case linkBearing(e.Kind):
			inner := filters.Attachment{Name: e.Name, Kind: e.Kind, Format: format}
			prev := x.fileSource
			x.fileSource = SourceArchive
			x.lookInto(&inner, head, sha256.Sum256(head))
			x.fileSource = prev
		}
	}
}

// linkBearing kinds are read for links when found inside an archive.
func linkBearing(k filters.FileKind) bool {
	switch k {
	case filters.FileHTML, filters.FileSVG, filters.FilePDF, filters.FileText, filters.FileShortcut:
		return true
	}
	return false
}

// inflate decompresses an entry: entryPeek bytes, or the whole entry
// (within max_inflate_bytes) when it can hold links. whole reports that
// all of it was read.
func (x *extractor) inflate(f *zip.File) ([]byte, bool) {
	room := x.cfg.MaxInflateBytes - x.inflated
	if room <= 0 {
		x.limit(SymLimitSize, "more than content.max_inflate_bytes decompressed")
		return nil, false
	}
	rc, err := f.Open()
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	want := min(int64(entryPeek), room)
	if k, _ := sniffText(nil, extOf(f.Name)); linkBearing(k) || extOf(f.Name) == ".pdf" || extOf(f.Name) == ".zip" {
		want = min(x.cfg.MaxAttachmentBytes, room)
	}
	b, _ := io.ReadAll(io.LimitReader(rc, want+1))
	whole := int64(len(b)) <= want
	if !whole {
		b = b[:want]
	}
	x.inflated += int64(len(b))
	return b, whole
}

// zipEntryCount reads the entry count of the end of central directory
// record (APPNOTE.TXT §4.3.16), searched in the last 64 KiB + 22 bytes.
func zipEntryCount(data []byte) (int, bool) {
	lo := max(0, len(data)-(65535+22))
	i := bytes.LastIndex(data[lo:], []byte("PK\x05\x06"))
	if i < 0 || lo+i+22 > len(data) {
		return 0, false
	}
	rec := data[lo+i:]
	n := int(binary.LittleEndian.Uint16(rec[10:12]))
	if n == 0xffff {
		return 0, false // Zip64: a directory of 65,535 entries and more
	}
	return n, true
}

// refineZip tells an Office Open XML document (with or without a VBA
// project) or a Java archive from a plain zip archive.
func refineZip(a *filters.Attachment, zr *zip.Reader) {
	var contentTypes, vba, manifest, classes bool
	for _, f := range zr.File {
		name := strings.ToLower(f.Name)
		switch {
		case name == "[content_types].xml":
			contentTypes = true
		case path.Base(name) == "vbaproject.bin":
			vba = true
		case name == "meta-inf/manifest.mf":
			manifest = true
		case strings.HasSuffix(name, ".class"):
			classes = true
		}
	}
	switch {
	case contentTypes && vba:
		a.Kind, a.Format = filters.FileMacroDoc, "ooxml"
	case contentTypes:
		a.Kind, a.Format = filters.FileOffice, "ooxml"
	case manifest && classes:
		a.Kind, a.Format = filters.FileExecutable, "jar"
	}
}

// gzip reads the one file of a gzip stream (RFC 1952): its name from the
// header, its kind from its first bytes.
func (x *extractor) gzip(a *filters.Attachment, data []byte, where string) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return
	}
	defer zr.Close()
	room := min(int64(entryPeek), x.cfg.MaxInflateBytes-x.inflated)
	if room <= 0 {
		return
	}
	head, _ := io.ReadAll(io.LimitReader(zr, room))
	x.inflated += int64(len(head))
	name := zr.Name
	if name == "" {
		name = strings.TrimSuffix(a.Name, path.Ext(a.Name))
	}
	e := filters.ArchiveEntry{Name: name}
	e.Kind, _ = sniff(head, name)
	a.Entries = append(a.Entries, e)
}

// rar reads the file names and encryption flags of a RAR archive's
// headers, version 4 (block headers) or 5 (vint headers), without
// decompressing anything.
func (x *extractor) rar(a *filters.Attachment, data []byte) {
	add := func(name string, enc bool) {
		if len(a.Entries) < x.cfg.MaxArchiveEntries {
			e := filters.ArchiveEntry{Name: name, Encrypted: enc}
			e.Kind, _ = sniffText(nil, extOf(name))
			a.Entries = append(a.Entries, e)
		}
		a.Encrypted = a.Encrypted || enc
	}
	if bytes.HasPrefix(data, []byte("Rar!\x1a\x07\x01\x00")) {
		rar5(data[8:], add, &a.Encrypted)
		return
	}
	// RAR 4: 7-byte marker, then blocks: CRC(2) type(1) flags(2) size(2).
	p := 7
	for n := 0; p+7 <= len(data) && n < 4*x.cfg.MaxArchiveEntries; n++ {
		typ := data[p+2]
		flags := binary.LittleEndian.Uint16(data[p+3:])
		size := int(binary.LittleEndian.Uint16(data[p+5:]))
		if size < 7 {
			return
		}
		next := p + size
		if flags&0x8000 != 0 && p+11 <= len(data) {
			next += int(binary.LittleEndian.Uint32(data[p+7:])) // ADD_SIZE: packed data
		}
		switch typ {
		case 0x73: // main header: 0x80 = block headers encrypted
			if flags&0x80 != 0 {
				a.Encrypted = true
				return
			}
		case 0x74: // file header
			if p+32 <= len(data) {
				nameLen := int(binary.LittleEndian.Uint16(data[p+26:]))
				off := p + 32
				if flags&0x100 != 0 {
					off += 8 // HIGH_PACK_SIZE, HIGH_UNP_SIZE
				}
				if off+nameLen <= len(data) {
					name := data[off : off+nameLen]
					if i := bytes.IndexByte(name, 0); i >= 0 {
						name = name[:i] // a Unicode name follows the OEM one
					}
					add(string(name), flags&0x04 != 0)
				}
			}
		}
		if next <= p {
			return
		}
		p = next
	}
}

// rar5 walks RAR 5.0 headers: CRC32(4) size(vint) type(vint) flags(vint)
// [extra size(vint)] [data size(vint)] ... A type 4 header encrypts every
// header after it; a file (type 2) carries its name and, in its extra
// area, record 0x01 when its data is encrypted.
func rar5(data []byte, add func(string, bool), encrypted *bool) {
	p := 0
	for n := 0; p+4 < len(data) && n < 10000; n++ {
		q := p + 4
		size, q, ok := vint(data, q)
		if !ok || size == 0 || size > 1<<21 {
			return
		}
		end := q + int(size)
		if end > len(data) {
			return
		}
		typ, q, _ := vint(data, q)
		flags, q, _ := vint(data, q)
		var extra, dataSize uint64
		if flags&0x01 != 0 {
			extra, q, _ = vint(data, q)
		}
		if flags&0x02 != 0 {
			dataSize, q, _ = vint(data, q)
		}
		switch typ {
		case 4:
			*encrypted = true
			return
		case 2:
			// file flags, unpacked size, attributes, [mtime], [crc], compression, host os, name length, name
			fflags, r, _ := vint(data, q)
			_, r, _ = vint(data, r)
			_, r, _ = vint(data, r)
			if fflags&0x02 != 0 {
				r += 4
			}
			if fflags&0x04 != 0 {
				r += 4
			}
			_, r, _ = vint(data, r)
			_, r, _ = vint(data, r)
			nlen, r, ok := vint(data, r)
			if ok && r+int(nlen) <= end {
				enc := extra > 0 && extraHasRecord(data[end-int(min(extra, uint64(end-q))):end], 0x01)
				add(string(data[r:r+int(nlen)]), enc)
			}
		}
		next := end + int(dataSize)
		if next <= p || dataSize > uint64(len(data)) {
			return
		}
		p = next
	}
}

// extraHasRecord reports a RAR 5 extra area with a record of type typ
// (records: size(vint) type(vint) data).
func extraHasRecord(extra []byte, typ uint64) bool {
	p := 0
	for p < len(extra) {
		size, q, ok := vint(extra, p)
		if !ok || size == 0 {
			return false
		}
		t, _, ok := vint(extra, q)
		if ok && t == typ {
			return true
		}
		p = q + int(size)
	}
	return false
}

// vint reads a RAR 5 variable-length integer at p.
func vint(data []byte, p int) (uint64, int, bool) {
	var v uint64
	for shift := 0; p < len(data) && shift < 64; shift += 7 {
		b := data[p]
		p++
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, p, true
		}
	}
	return 0, p, false
}
