package decode

import (
	"encoding/binary"
	"fmt"
)

// The header parsers below read only what the bounds need: dimensions,
// and the frames and scans that multiply the work. They index into data
// and never allocate in proportion to a claimed size; a structure cut
// short ends the walk with what was counted (the decoder then says
// whether the image is usable).

// side converts a header's unsigned dimension to int, refusing values no
// format allows (PNG and GIF store them in 31 and 16 bits).
func side(v uint32) int {
	if v > 1<<31-1 {
		return -1
	}
	return int(v)
}

// inspectPNG reads IHDR (PNG §11.2.2, the first chunk) and, for an
// animated PNG, the frame count of acTL, which precedes the first IDAT.
func inspectPNG(data []byte, lim Limits) (Info, error) {
	info := Info{Format: FormatPNG, Frames: 1}
	i := 8
	first := true
	for i+8 <= len(data) {
		n := binary.BigEndian.Uint32(data[i:])
		typ := string(data[i+4 : i+8])
		body := i + 8
		if first {
			if typ != "IHDR" || n < 13 || body+13 > len(data) {
				return info, fmt.Errorf("%w: png: no IHDR chunk first", ErrMalformed)
			}
			info.Width = side(binary.BigEndian.Uint32(data[body:]))
			info.Height = side(binary.BigEndian.Uint32(data[body+4:]))
			first = false
		}
		switch typ {
		case "acTL":
			if body+4 <= len(data) {
				frames := int64(binary.BigEndian.Uint32(data[body:]))
				if frames > int64(lim.MaxFrames) {
					return info, &LimitError{Bound: BoundFrames, Got: frames, Limit: int64(lim.MaxFrames)}
				}
				info.Frames = max(1, int(frames))
			}
		case "IDAT", "IEND":
			return info, nil
		}
		// length + type + body + CRC; a length past the end ends the walk.
		next := int64(body) + int64(n) + 4
		if next > int64(len(data)) {
			break
		}
		i = int(next)
	}
	if first {
		return info, fmt.Errorf("%w: png: no IHDR chunk first", ErrMalformed)
	}
	return info, nil
}

// inspectJPEG walks the marker segments (ITU T.81 §B.1): the frame header
// (SOFn) gives the dimensions, each SOS starts a scan, and the
// entropy-coded data after a scan header runs to the next marker that is
// not a stuffed 0xFF00 or a restart marker (§B.1.1.5, §F.1.2.3).
func inspectJPEG(data []byte, lim Limits) (Info, error) {
	info := Info{Format: FormatJPEG, Frames: 1}
	seenSOF := false
	i := 2
	for i < len(data) {
		if data[i] != 0xff {
			return info, fmt.Errorf("%w: jpeg: byte %#x where a marker should be", ErrMalformed, data[i])
		}
		for i < len(data) && data[i] == 0xff { // fill bytes, §B.1.1.2
			i++
		}
		if i >= len(data) {
			break
		}
		marker := data[i]
		i++
		switch {
		case marker == 0xd9: // EOI
			return finishJPEG(info, seenSOF)
		case marker >= 0xd0 && marker <= 0xd7, marker == 0x01, marker == 0xd8:
			continue // standalone markers, no length
		}
		if i+2 > len(data) {
			break
		}
		n := int(binary.BigEndian.Uint16(data[i:]))
		if n < 2 {
			return info, fmt.Errorf("%w: jpeg: segment length %d", ErrMalformed, n)
		}
		seg := data[i+2 : min(len(data), i+n)]
		switch {
		case isSOF(marker):
			if seenSOF {
				return info, fmt.Errorf("%w: jpeg: more than one frame header", ErrMalformed)
			}
			if len(seg) < 5 {
				return info, fmt.Errorf("%w: jpeg: short frame header", ErrMalformed)
			}
			seenSOF = true
			info.Height = int(binary.BigEndian.Uint16(seg[1:]))
			info.Width = int(binary.BigEndian.Uint16(seg[3:]))
		case marker == 0xda: // SOS
			info.Scans++
			if info.Scans > lim.MaxScans {
				return info, &LimitError{Bound: BoundScans, Got: int64(info.Scans), Limit: int64(lim.MaxScans), AtLeast: true}
			}
			j := i + n
			for j+1 < len(data) {
				if data[j] == 0xff {
					if next := data[j+1]; next != 0x00 && next != 0xff && !(next >= 0xd0 && next <= 0xd7) {
						break
					}
				}
				j++
			}
			i = j
			continue
		}
		i += n
	}
	return finishJPEG(info, seenSOF)
}

func finishJPEG(info Info, seenSOF bool) (Info, error) {
	if !seenSOF {
		return info, fmt.Errorf("%w: jpeg: no frame header", ErrMalformed)
	}
	return info, nil
}

// isSOF: SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC).
func isSOF(m byte) bool {
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc
}

// inspectGIF reads the logical screen descriptor (GIF89a §18) and counts
// image descriptors (§20) by skipping extension and image data sub-blocks
// (§15) without decompressing them.
func inspectGIF(data []byte, lim Limits) (Info, error) {
	info := Info{Format: FormatGIF}
	if len(data) < 13 {
		return info, fmt.Errorf("%w: gif: short header", ErrMalformed)
	}
	info.Width = int(binary.LittleEndian.Uint16(data[6:]))
	info.Height = int(binary.LittleEndian.Uint16(data[8:]))
	i := 13
	if flags := data[10]; flags&0x80 != 0 {
		i += 3 << ((flags & 7) + 1)
	}
	// skipBlocks returns the index after a sub-block sequence's terminator.
	skipBlocks := func(i int) int {
		for i < len(data) {
			n := int(data[i])
			i++
			if n == 0 {
				return i
			}
			i += n
		}
		return len(data)
	}
	for i < len(data) {
		switch data[i] {
		case 0x21: // extension: introducer, label, sub-blocks
			i = skipBlocks(i + 2)
		case 0x2c: // image descriptor
			info.Frames++
			if info.Frames > lim.MaxFrames {
				return info, &LimitError{Bound: BoundFrames, Got: int64(info.Frames), Limit: int64(lim.MaxFrames), AtLeast: true}
			}
			if i+10 > len(data) {
				return finishGIF(info)
			}
			flags := data[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << ((flags & 7) + 1)
			}
			i = skipBlocks(i + 1) // LZW minimum code size, then data
		default: // trailer (0x3b) or junk: nothing more to count
			return finishGIF(info)
		}
	}
	return finishGIF(info)
}

func finishGIF(info Info) (Info, error) {
	if info.Frames == 0 {
		return info, fmt.Errorf("%w: gif: no image", ErrMalformed)
	}
	return info, nil
}

// inspectWebP reads the first chunk of the RIFF container: VP8X (canvas
// size, and for an animation its ANMF frames), VP8L (14-bit sizes) or VP8
// (the key frame header, RFC 6386 §9.1).
func inspectWebP(data []byte, lim Limits) (Info, error) {
	info := Info{Format: FormatWebP, Frames: 1}
	if len(data) < 20 {
		return info, fmt.Errorf("%w: webp: short header", ErrMalformed)
	}
	fourcc, n := string(data[12:16]), int64(binary.LittleEndian.Uint32(data[16:]))
	body := data[20:]
	switch fourcc {
	case "VP8X":
		if len(body) < 10 {
			return info, fmt.Errorf("%w: webp: short VP8X chunk", ErrMalformed)
		}
		info.Width = int(uint32(body[4])|uint32(body[5])<<8|uint32(body[6])<<16) + 1
		info.Height = int(uint32(body[7])|uint32(body[8])<<8|uint32(body[9])<<16) + 1
		if body[0]&0x02 == 0 {
			return info, nil
		}
		// Animation: count ANMF chunks; the decoder reads stills only.
		info.Frames = 0
		for i := int64(20) + n + n&1; i+8 <= int64(len(data)); {
			size := int64(binary.LittleEndian.Uint32(data[i+4:]))
			if string(data[i:i+4]) == "ANMF" {
				info.Frames++
				if info.Frames > lim.MaxFrames {
					return info, &LimitError{Bound: BoundFrames, Got: int64(info.Frames), Limit: int64(lim.MaxFrames), AtLeast: true}
				}
			}
			i += 8 + size + size&1
		}
		return info, fmt.Errorf("%w: animated webp (%d frames)", ErrUnsupported, info.Frames)
	case "VP8L":
		if len(body) < 5 || body[0] != 0x2f {
			return info, fmt.Errorf("%w: webp: bad VP8L header", ErrMalformed)
		}
		bits := binary.LittleEndian.Uint32(body[1:])
		info.Width = int(bits&0x3fff) + 1
		info.Height = int(bits>>14&0x3fff) + 1
	case "VP8 ":
		if len(body) < 10 || body[0]&1 != 0 || body[3] != 0x9d || body[4] != 0x01 || body[5] != 0x2a {
			return info, fmt.Errorf("%w: webp: bad VP8 key frame header", ErrMalformed)
		}
		info.Width = int(binary.LittleEndian.Uint16(body[6:]) & 0x3fff)
		info.Height = int(binary.LittleEndian.Uint16(body[8:]) & 0x3fff)
	default:
		return info, fmt.Errorf("%w: webp: first chunk %q", ErrMalformed, fourcc)
	}
	return info, nil
}

// inspectBMP reads the file header and the DIB header: BITMAPCOREHEADER
// (12 bytes, 16-bit sizes) or BITMAPINFOHEADER and its successors (signed
// 32-bit sizes, a negative height meaning top-down rows).
func inspectBMP(data []byte) (Info, error) {
	info := Info{Format: FormatBMP, Frames: 1}
	dib := binary.LittleEndian.Uint32(data[14:])
	switch {
	case dib == 12:
		info.Width = int(binary.LittleEndian.Uint16(data[18:]))
		info.Height = int(binary.LittleEndian.Uint16(data[20:]))
	case dib >= 40 && len(data) >= 26:
		w := int64(int32(binary.LittleEndian.Uint32(data[18:])))
		h := int64(int32(binary.LittleEndian.Uint32(data[22:])))
		if h < 0 {
			h = -h
		}
		info.Width, info.Height = int(w), int(h)
	default:
		return info, fmt.Errorf("%w: bmp: DIB header of %d bytes", ErrUnsupported, dib)
	}
	return info, nil
}
