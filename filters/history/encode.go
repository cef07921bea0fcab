package history

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Every verdict is encoded for the store, so the entry and the learning
// keys are written by hand rather than by reflection (encoding/json costs
// several times as much here); what is written is plain JSON, read back
// with encoding/json. TestEncodeMatchesJSON holds the two together.

// appendSummary appends e as JSON without its ID and mark, which the
// store keeps itself.
func appendSummary(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","node":`...)
	b = appendString(b, e.Node)
	b = append(b, `,"queue_id":`...)
	b = appendString(b, e.QueueID)
	b = append(b, `,"client":`...)
	b = appendString(b, e.Client)
	b = append(b, `,"from":`...)
	b = appendString(b, e.From)
	b = append(b, `,"rcpts":[`...)
	for i, r := range e.Rcpts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, r)
	}
	b = append(b, `],"subject":`...)
	b = appendString(b, e.Subject)
	b = append(b, `,"action":`...)
	b = appendString(b, string(e.Action))
	b = append(b, `,"would_be":`...)
	b = appendString(b, string(e.WouldBe))
	b = append(b, `,"score":`...)
	b = appendFloat(b, e.Score)
	b = append(b, `,"symbols":[`...)
	for i, s := range e.Symbols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, s.Name)
		b = append(b, `,"score":`...)
		b = appendFloat(b, s.Score)
		b = append(b, `,"detail":`...)
		b = appendString(b, s.Detail)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// marshalDetail encodes d: its facts by encoding/json (their types carry
// their own JSON names), the learning keys by hand.
func marshalDetail(d *detailRecord) ([]byte, error) {
	keys := d.Keys
	d.Keys = nil
	b, err := json.Marshal(d)
	d.Keys = keys
	if err != nil || len(keys) == 0 {
		return b, err
	}
	// Room for the keys, so that appending them does not copy the buffer
	// again and again.
	n := len(b) + 10
	for _, k := range keys {
		n += len(k.Kind) + len(k.Value) + 32
	}
	b = append(make([]byte, 0, n), b[:len(b)-1]...) // without the closing brace
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, `"keys":[`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"k":`...)
		b = appendString(b, k.Kind)
		b = append(b, `,"v":`...)
		b = appendString(b, k.Value)
		if k.Weight != 0 {
			b = append(b, `,"w":`...)
			b = appendFloat(b, k.Weight)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// appendFloat writes f as encoding/json does (RFC 8259 §6 has no NaN or
// infinity; a score never is one, and 0 stands in should it be).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control characters escaped, invalid UTF-8 replaced by
// U+FFFD, and U+2028 and U+2029 escaped as JavaScript needs.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
