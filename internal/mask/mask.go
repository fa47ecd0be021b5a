// Package mask hides sensitive values in what a run records. The host
// and the SDK share it, so that both replace the same values the same
// way: each occurrence of a value, as it is or as JSON or Go would
// escape it, becomes Text.
//
// Values shorter than MinLen bytes are not masked: replacing every "ab"
// or "42" in a run's record would garble it, and would show the value by
// what was replaced anyway.
package mask

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Text is what replaces a sensitive value: the same text the jobfile's
// copy and results.json use for a sensitive variable.
const Text = "(sensitive)"

// MinLen is the length in bytes of the shortest value masked.
const MinLen = 4

// Masker replaces a set of values. Its methods are safe for concurrent
// use, and a nil *Masker masks nothing.
type Masker struct {
	mu  sync.Mutex // serialises Add
	cur atomic.Pointer[set]
}

// set is one immutable generation of a Masker's values.
type set struct {
	values []string // as given, each once
	// pats are the values and their escaped forms, longest first, so that
	// where two start at one place the longer is replaced.
	pats [][]byte
	r    *strings.Replacer
}

// New returns a Masker of values; those shorter than MinLen are left out.
func New(values ...string) *Masker {
	m := &Masker{}
	m.Add(values...)
	return m
}

// Add adds values to mask from now on; those shorter than MinLen are
// left out.
func (m *Masker) Add(values ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var old []string
	if s := m.cur.Load(); s != nil {
		old = s.values
	}
	vs := slices.Clone(old)
	for _, v := range values {
		if len(v) >= MinLen && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	if len(vs) == len(old) {
		return
	}
	m.cur.Store(newSet(vs))
}

func newSet(values []string) *set {
	s := &set{values: values}
	seen := map[string]bool{}
	for _, v := range values {
		for _, p := range forms(v) {
			if !seen[p] {
				seen[p] = true
				s.pats = append(s.pats, []byte(p))
			}
		}
	}
	slices.SortStableFunc(s.pats, func(a, b []byte) int { return len(b) - len(a) })
	args := make([]string, 0, 2*len(s.pats))
	for _, p := range s.pats {
		args = append(args, string(p), Text)
	}
	s.r = strings.NewReplacer(args...)
	return s
}

// forms are v as it is and as JSON (with and without the escaping of <,
// > and & that encoding/json does by default) and Go's %q write it inside
// their quotes.
func forms(v string) []string {
	out := []string{v}
	var b bytes.Buffer
	for _, html := range []bool{true, false} {
		b.Reset()
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(v)
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(b.String(), "\n"), `"`), `"`))
	}
	q := strconv.Quote(v)
	return append(out, q[1:len(q)-1])
}

func (m *Masker) load() *set {
	if m == nil {
		return nil
	}
	return m.cur.Load()
}

// Empty reports whether m masks nothing.
func (m *Masker) Empty() bool { return m.load() == nil }

// Values returns the values m masks, as given.
func (m *Masker) Values() []string {
	if s := m.load(); s != nil {
		return slices.Clone(s.values)
	}
	return nil
}

// In returns the values of m that b holds, as they are or escaped.
func (m *Masker) In(b []byte) []string {
	s := m.load()
	if s == nil {
		return nil
	}
	var out []string
	for _, v := range s.values {
		for _, p := range forms(v) {
			if bytes.Contains(b, []byte(p)) {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// String returns s with every value replaced by Text.
func (m *Masker) String(s string) string {
	set := m.load()
	if set == nil || !set.contains([]byte(s)) {
		return s
	}
	return set.r.Replace(s)
}

// Bytes returns b with every value replaced by Text: b itself when it
// holds none.
func (m *Masker) Bytes(b []byte) []byte {
	s := m.load()
	if s == nil || !s.contains(b) {
		return b
	}
	return []byte(s.r.Replace(string(b)))
}

func (s *set) contains(b []byte) bool {
	for _, p := range s.pats {
		if bytes.Contains(b, p) {
			return true
		}
	}
	return false
}

// JSON returns raw, a JSON text, with every value replaced by Text in
// its strings (object keys included) and numbers (a number that held one
// becomes a string), so that it stays valid JSON. raw itself is returned
// when it holds no value; what is not valid JSON is masked as bytes.
func (m *Masker) JSON(raw []byte) []byte {
	s := m.load()
	if s == nil || len(raw) == 0 {
		return raw
	}
	// Only a value, or an escape that may spell one, needs a closer look.
	if !s.contains(raw) && !bytes.ContainsRune(raw, '\\') {
		return raw
	}
	out, changed, ok := s.json(raw)
	switch {
	case !ok:
		return m.Bytes(raw)
	case !changed:
		return raw
	}
	return out
}

// json rewrites raw token by token, in order, masking strings and
// numbers; ok is false when raw is not one JSON value.
func (s *set) json(raw []byte) (out []byte, changed, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		object bool
		n      int // keys and values (object) or elements (array) so far
	}
	var stack []frame
	var b bytes.Buffer
	top := 0
	put := func(tok []byte) {
		if len(stack) == 0 {
			top++
		} else {
			f := &stack[len(stack)-1]
			switch {
			case f.object && f.n%2 == 1:
				b.WriteByte(':')
			case f.n > 0:
				b.WriteByte(',')
			}
			f.n++
		}
		b.Write(tok)
	}
	quoted := func(str string) []byte {
		q, _ := json.Marshal(str)
		return q
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				put([]byte{byte(v)})
				stack = append(stack, frame{object: v == '{'})
			default:
				stack = stack[:len(stack)-1]
				b.WriteByte(byte(v))
			}
		case string:
			mv := s.r.Replace(v)
			changed = changed || mv != v
			put(quoted(mv))
		case json.Number:
			if mv := s.r.Replace(v.String()); mv != v.String() {
				changed = true
				put(quoted(mv))
			} else {
				put([]byte(v.String()))
			}
		case bool:
			put([]byte(strconv.FormatBool(v)))
		case nil:
			put([]byte("null"))
		}
		if top > 1 {
			return nil, false, false
		}
	}
	return b.Bytes(), changed, top == 1 && len(stack) == 0
}

// Writer returns a writer that masks what it writes to w, a write at a
// time: a value split between two writes is not found, so it suits
// writers that write a whole line at once (a logger, a line buffer).
func (m *Masker) Writer(w io.Writer) io.Writer {
	if m == nil {
		return w
	}
	return writer{m, w}
}

type writer struct {
	m *Masker
	w io.Writer
}

func (w writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(w.m.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
