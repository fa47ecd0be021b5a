package mask

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Edit is one value masked in a file: Old bytes at Off (in the file as
// it was) replaced by New bytes.
type Edit struct {
	Off      int64
	Old, New int
}

// chunk is how much of a file File reads at once.
const chunk = 256 << 10

// File masks the file at path in place. A file that holds no value is
// left as it is; one that does is replaced, through a copy renamed over
// it with the same mode, by a copy with each value replaced by Text. It
// returns the edits made, in order, which Shift applies to offsets into
// the file. The file must not be written meanwhile.
func (m *Masker) File(path string) ([]Edit, error) {
	s := m.load()
	if s == nil {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var edits []Edit
	if err := s.scan(f, func(off int64, n int) { edits = append(edits, Edit{Off: off, Old: n, New: len(Text)}) }); err != nil {
		return nil, fmt.Errorf("mask %s: %w", path, err)
	}
	if len(edits) == 0 {
		return nil, nil
	}
	if err := rewrite(f, path, edits); err != nil {
		return nil, fmt.Errorf("mask %s: %w", path, err)
	}
	return edits, nil
}

// scan reads r to its end and calls found with the offset and length of
// each value, leftmost first and the longest where several start at one
// place, never overlapping.
func (s *set) scan(r io.Reader, found func(off int64, n int)) error {
	longest := len(s.pats[0])
	buf := make([]byte, 0, chunk+longest)
	var base int64 // file offset of buf[0]
	eof := false
	for !eof {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			eof = true
		} else if err != nil {
			return err
		}
		// Where every value that starts before limit lies wholly in buf,
		// the leftmost longest match is known.
		limit := len(buf)
		if !eof {
			limit = len(buf) - longest + 1
		}
		i := 0
		for i < limit {
			start, n := s.next(buf, i)
			if start < 0 || start >= limit {
				i = limit
				break
			}
			found(base+int64(start), n)
			i = start + n
		}
		i = min(i, len(buf))
		base += int64(i)
		buf = buf[:copy(buf, buf[i:])]
	}
	return nil
}

// next finds the leftmost match in b from i: its start and length, or -1.
func (s *set) next(b []byte, i int) (int, int) {
	best, n := -1, 0
	for _, p := range s.pats { // longest first: a tie keeps the longer
		j := bytes.Index(b[i:], p)
		if j >= 0 && (best < 0 || i+j < best) {
			best, n = i+j, len(p)
		}
	}
	return best, n
}

// rewrite writes f's content with edits applied to a new file beside
// path and renames it over path.
func rewrite(f *os.File, path string, edits []Edit) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(tmp, chunk)
	var at int64
	for _, e := range edits {
		if _, err = io.CopyN(w, f, e.Off-at); err != nil {
			break
		}
		w.WriteString(Text)
		if _, err = io.CopyN(io.Discard, f, int64(e.Old)); err != nil {
			break
		}
		at = e.Off + int64(e.Old)
	}
	if err == nil {
		_, err = io.Copy(w, f)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Chmod(st.Mode().Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Shift maps off, an offset into a file before edits were made, to the
// same place after them. An offset inside a masked value maps to the
// start of its Text, or to its end when end is set (the end of a range).
func Shift(edits []Edit, off int64, end bool) int64 {
	var d int64
	for _, e := range edits {
		switch {
		case off >= e.Off+int64(e.Old):
			d += int64(e.New - e.Old)
		case off > e.Off:
			if end {
				return e.Off + d + int64(e.New)
			}
			return e.Off + d
		default:
			return off + d
		}
	}
	return off + d
}
