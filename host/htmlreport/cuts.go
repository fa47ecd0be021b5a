package htmlreport

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
)

// MaxLineBytes bounds a log line in the page: a longer line keeps its
// first quarter and the rest of MaxLineBytes from its end, and says
// between them where the whole line is, so that one huge line does not
// make a huge page.
var MaxLineBytes int64 = 64 << 10

// cut is a part of a log file left out of the page, with the note that
// stands in its place.
type cut struct {
	at, n int64 // the bytes [at, at+n) of the file
	note  string
}

// cuts are a file's cuts, in the order of the file.
type cuts []cut

// findCuts reads f, the log file file, for lines longer than max.
func findCuts(f *os.File, file string, max int64) (cuts, error) {
	var cs cuts
	r := bufio.NewReaderSize(f, 64<<10)
	var off, start int64 // the offset read to, and of the line's start
	for {
		b, err := r.ReadSlice('\n')
		off += int64(len(b))
		if err == nil || err == io.EOF {
			end := off // the line's end, its newline not counted
			if bytes.HasSuffix(b, []byte("\n")) {
				end--
			}
			if end-start > max {
				head, tail := max/4, max-max/4
				c := cut{at: start + head, n: end - start - head - tail}
				c.note = fmt.Sprintf("\n[… %d bytes left out here: the whole line is bytes %d to %d of %s in the run directory]\n", c.n, start, off, file)
				cs = append(cs, c)
			}
			start = off
		}
		switch {
		case err == io.EOF:
			return cs, nil
		case err != nil && err != bufio.ErrBufferFull:
			return nil, err
		}
	}
}

// size is the size of a file of size bytes in the page.
func (cs cuts) size(size int64) int64 {
	return cs.pos(size, false)
}

// pos maps an offset in the file to one in the page's copy of it. An
// offset inside a cut goes to the start of its note, or, with after, to
// the note's end.
func (cs cuts) pos(off int64, after bool) int64 {
	// The cuts that start before off.
	i := sort.Search(len(cs), func(i int) bool { return cs[i].at >= off })
	p := off
	for _, c := range cs[:i] {
		switch {
		case off >= c.at+c.n:
			p += int64(len(c.note)) - c.n
		case after:
			p += int64(len(c.note)) - (off - c.at)
		default:
			p -= off - c.at
		}
	}
	return p
}

// copy copies the file f to w with its cuts.
func (cs cuts) copy(w io.Writer, f *os.File) error {
	var off int64
	for _, c := range cs {
		if _, err := io.Copy(w, io.NewSectionReader(f, off, c.at-off)); err != nil {
			return err
		}
		if _, err := io.WriteString(w, c.note); err != nil {
			return err
		}
		off = c.at + c.n
	}
	_, err := io.Copy(w, io.NewSectionReader(f, off, 1<<62))
	return err
}
