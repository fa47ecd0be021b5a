package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/taskhost/taskhost/internal/report"
)

// appendNode appends n as json.MarshalIndent(n, prefix, "  ") would, without
// reflection: a large run has a node per step, and this is most of the work
// of writing results.json.
func appendNode(b []byte, n *report.Node, prefix string) ([]byte, error) {
	// What fails here, checkNodes finds first (see Mend).
	if !timeOK(n.StartTime) || !timeOK(n.StopTime) {
		return nil, fmt.Errorf("step %s: a time outside the years 0 to 9999", n.ID)
	}
	in := prefix + "  "
	b = append(b, '{')
	b = field(b, in, "type")
	b = appendString(b, n.Type)
	b = append(b, ',')
	b = field(b, in, "id")
	b = appendString(b, n.ID)
	b = append(b, ',')
	b = field(b, in, "name")
	b = appendString(b, n.Name)
	b = append(b, ',')
	b = field(b, in, "result")
	b = append(b, '{')
	in2 := in + "  "
	b = field(b, in2, "value")
	b = appendString(b, n.Result.Value.String())
	if n.Result.Reason != "" {
		b = append(b, ',')
		b = field(b, in2, "reason")
		b = appendString(b, n.Result.Reason)
	}
	if len(n.Result.Data) > 0 {
		b = append(b, ',')
		b = field(b, in2, "data")
		var err error
		if b, err = appendRaw(b, n.Result.Data, in2); err != nil {
			return nil, err
		}
	}
	b = append(b, '\n')
	b = append(b, in...)
	b = append(b, "},"...)
	b = field(b, in, "starttime")
	b = appendTime(b, n.StartTime)
	if !n.StopTime.IsZero() {
		b = append(b, ',')
		b = field(b, in, "stoptime")
		b = appendTime(b, n.StopTime)
	}
	b = append(b, ',')
	b = field(b, in, "runtime")
	b = appendFloat(b, n.Runtime)
	if n.PID != 0 {
		b = append(b, ',')
		b = field(b, in, "pid")
		b = strconv.AppendInt(b, int64(n.PID), 10)
	}
	if n.Logs != nil {
		b = append(b, ',')
		b = field(b, in, "logs")
		b = append(b, '{')
		b = field(b, in2, "file")
		b = appendString(b, n.Logs.File)
		b = append(b, ',')
		b = field(b, in2, "begin")
		b = strconv.AppendInt(b, n.Logs.Begin, 10)
		b = append(b, ',')
		b = field(b, in2, "size")
		b = strconv.AppendInt(b, n.Logs.Size, 10)
		b = append(b, '\n')
		b = append(b, in...)
		b = append(b, '}')
	}
	if len(n.Sections) > 0 {
		b = append(b, ',')
		b = field(b, in, "sections")
		b = append(b, '[')
		for i, c := range n.Sections {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '\n')
			b = append(b, in2...)
			var err error
			if b, err = appendNode(b, c, in2); err != nil {
				return nil, err
			}
		}
		b = append(b, '\n')
		b = append(b, in...)
		b = append(b, ']')
	}
	b = append(b, '\n')
	b = append(b, prefix...)
	return append(b, '}'), nil
}

// field starts a field on a new line: `\n<indent>"name": `.
func field(b []byte, indent, name string) []byte {
	b = append(b, '\n')
	b = append(b, indent...)
	b = append(b, '"')
	b = append(b, name...)
	return append(b, `": `...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendFloat formats f as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendRaw appends raw JSON compacted, HTML-escaped and indented as
// json.MarshalIndent does with a RawMessage.
func appendRaw(b []byte, raw json.RawMessage, prefix string) ([]byte, error) {
	var c, e, out bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		return nil, err
	}
	json.HTMLEscape(&e, c.Bytes())
	if err := json.Indent(&out, e.Bytes(), prefix, "  "); err != nil {
		return nil, err
	}
	return append(b, out.Bytes()...), nil
}

const hex = "0123456789abcdef"

// appendString appends s quoted as encoding/json does (HTML-safe).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
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
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
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
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
