package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskhost/taskhost/sdk/result"
)

// What one event's fields may hold. The SDK keeps to them (ToWire cuts a
// longer name or reason); the host refuses an event that does not (Check).
const (
	// MaxIDBytes bounds a step's id and its parent's.
	MaxIDBytes = 1024
	// MaxNameBytes bounds a step's name, and a log file's path.
	MaxNameBytes = 4096
	// MaxReasonBytes bounds a result's reason.
	MaxReasonBytes = 64 << 10
	// maxSrcBytes bounds a source's name ("pid-<pid>").
	maxSrcBytes = 32
	// maxPID is the largest process id Linux gives (PID_MAX_LIMIT).
	maxPID = 1 << 22
)

// Rules are what Check holds an event of one task to, beyond its own
// fields making sense. The zero value of each field sets no bound.
type Rules struct {
	// MaxEventBytes bounds the event's encoded size.
	MaxEventBytes int
	// MaxSeq bounds its sequence number: a source cannot number more
	// events than the task may send.
	MaxSeq uint64
	// LogDir is the task's own directory, relative to the run directory
	// ("tasks/<id>", "hooks/<call>"): a log file the event names must be
	// directly in it. Empty: it must be directly in some tasks/<id> or
	// hooks/<call>.
	LogDir string
	// NotBefore and NotAfter bound the event's time.
	NotBefore, NotAfter time.Time
}

// Check reads an event that travelled on the hub and checks every field:
// the source's name, the sequence number, the kind and what it carries,
// ids, names and reasons (valid UTF-8, within their bounds), the node
// type, the result, the data (JSON), the time, the pid and the log file
// (a file of the task's own directory). The error says what is wrong,
// naming the event by its source and number.
func Check(w *Sent, r Rules) (Event, error) {
	ev, err := check(w, r)
	if err != nil {
		who := "event " + strconv.FormatUint(w.Seq, 10)
		if src := w.Src; src != "" && len(src) <= maxSrcBytes && utf8.ValidString(src) {
			who += " of " + src
		}
		return ev, fmt.Errorf("%s: %w", who, err)
	}
	return ev, nil
}

func check(w *Sent, r Rules) (Event, error) {
	if r.MaxEventBytes > 0 {
		if n := w.Size; n > r.MaxEventBytes {
			return Event{}, fmt.Errorf("%d bytes, over the limit of %d", n, r.MaxEventBytes)
		}
	}
	if err := checkSrc(w.Src); err != nil {
		return Event{}, err
	}
	switch seq := w.Seq; {
	case seq == 0:
		return Event{}, errors.New("sequence number 0 (they start at 1)")
	case r.MaxSeq > 0 && seq > r.MaxSeq:
		return Event{}, fmt.Errorf("sequence number %d, more than the %d events a task may send", seq, r.MaxSeq)
	}
	for _, f := range []struct {
		name, v string
		max     int
		ident   bool
	}{
		{"id", w.ID, MaxIDBytes, true},
		{"parent", w.Parent, MaxIDBytes, true},
		{"name", w.Name, MaxNameBytes, false},
		{"reason", w.Reason, MaxReasonBytes, false},
	} {
		if err := checkText(f.name, f.v, f.max, f.ident); err != nil {
			return Event{}, err
		}
	}
	ev, err := w.event()
	if err != nil {
		return ev, err
	}
	if err := checkShape(ev, r); err != nil {
		return ev, err
	}
	if len(ev.Data) > 0 && !json.Valid(ev.Data) {
		var v any
		err := json.Unmarshal(ev.Data, &v) // only to say why
		return ev, fmt.Errorf("data is not JSON: %v", err)
	}
	if ev.Time.UnixNano() <= 0 || (!r.NotBefore.IsZero() && ev.Time.Before(r.NotBefore)) ||
		(!r.NotAfter.IsZero() && ev.Time.After(r.NotAfter)) {
		return ev, fmt.Errorf("time %s is not during the run", ev.Time.UTC().Format(time.RFC3339Nano))
	}
	if ev.PID < 0 || ev.PID > maxPID {
		return ev, fmt.Errorf("pid %d is not a process id", ev.PID)
	}
	return ev, nil
}

// checkShape checks what each kind of event carries.
func checkShape(ev Event, r Rules) error {
	switch ev.Kind {
	case KindStart:
		switch {
		case ev.ID == "":
			return errors.New("start without an id")
		case ev.Type != "" && ev.Type != TypeSection && ev.Type != TypeStep:
			return fmt.Errorf("unknown type %q", ev.Type)
		case ev.Result != result.Unset || ev.Reason != "" || len(ev.Data) > 0 || ev.Logs != nil:
			return errors.New("a start with a result, reason, data or log lines")
		}
	case KindEnd:
		switch {
		case ev.Type != "" || ev.Parent != "" || ev.Name != "":
			return errors.New("an end with a type, parent or name")
		case ev.Logs != nil && ev.ID == "":
			return errors.New("log lines on the task's end")
		case ev.Logs != nil:
			if err := checkLogFile(ev.Logs.File, r.LogDir); err != nil {
				return err
			}
			if l := ev.Logs; l.Begin < 0 || l.Size < 0 || l.Begin > 1<<62 || l.Size > 1<<62 {
				return fmt.Errorf("log range %d+%d", l.Begin, l.Size)
			}
		}
	case KindLog:
		switch {
		case ev.ID != "" || ev.Type != "" || ev.Result != result.Unset || ev.Reason != "" || len(ev.Data) > 0 || ev.Logs != nil:
			return errors.New("a log event with a step's fields")
		}
		if err := checkLogFile(ev.Name, r.LogDir); err != nil {
			return err
		}
	default:
		if !utf8.ValidString(ev.Kind) || len(ev.Kind) > 16 {
			return errors.New("unknown kind")
		}
		return fmt.Errorf("unknown kind %q", ev.Kind)
	}
	return nil
}

// checkSrc checks a source's name: "" (the task process) or "pid-<pid>".
func checkSrc(src string) error {
	if src == "" {
		return nil
	}
	n, ok := strings.CutPrefix(src, "pid-")
	if ok && len(n) > 0 && len(n) <= 19 && strings.Trim(n, "0123456789") == "" {
		return nil
	}
	if len(src) > maxSrcBytes || !utf8.ValidString(src) {
		return errors.New("the source is not pid-<pid>")
	}
	return fmt.Errorf("the source %q is not pid-<pid>", src)
}

// checkText checks a string field: valid UTF-8, at most max bytes, and
// for an identifier no control characters.
func checkText(name, v string, max int, ident bool) error {
	if len(v) > max {
		return fmt.Errorf("%s of %d bytes, over the limit of %d", name, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	if ident && strings.ContainsFunc(v, isControl) {
		return fmt.Errorf("%s %q holds a control character", name, v)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkLogFile checks a log file's path (relative to the run directory):
// a file directly in dir, or when dir is "" in some tasks/<id> or
// hooks/<call>.
func checkLogFile(file, dir string) error {
	if err := checkText("log file", file, MaxNameBytes, true); err != nil {
		return err
	}
	bad := func(why string) error { return fmt.Errorf("log file %q %s", file, why) }
	if !filepath.IsLocal(file) || path.Clean(file) != file {
		return bad("is not a path inside the run directory")
	}
	d, name := path.Split(file)
	d = strings.TrimSuffix(d, "/")
	if name == "" || name == "." || name == ".." {
		return bad("is not a file")
	}
	if dir != "" {
		if d != dir {
			return bad(fmt.Sprintf("is not in the task's directory %s", dir))
		}
		return nil
	}
	top, id, ok := strings.Cut(d, "/")
	if !ok || (top != "tasks" && top != "hooks") || id == "" || id == "." || id == ".." || strings.Contains(id, "/") {
		return bad("is not in a task's directory")
	}
	return nil
}
