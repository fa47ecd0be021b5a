package result

import (
	"fmt"
	"strings"
)

// Result is one of the seven pyATS results. The zero value is Unset, which
// is not a result: a section that ends without one is Passed.
//
// Results are ordered by severity; Rollup of two gives the more severe:
//
//	Aborted > Errored > Failed > Blocked > Passx > Passed > Skipped
type Result uint8

// The seven results, from least to most severe, and Unset.
const (
	// Unset is no result yet: a step or task that ends without one, and
	// without children, is Passed.
	Unset Result = iota
	// Skipped: the step was not relevant here and did not run its checks
	// (T.Skip). A success.
	Skipped
	// Passed: everything checked held. A success.
	Passed
	// Passx: passed, with an exception worth noting (T.Passx). A success.
	Passx
	// Blocked: it could not run because something it needs is missing
	// (T.Block, a failed dependency, a pre_task hook that did not pass).
	Blocked
	// Failed: a check did not hold (T.Failf).
	Failed
	// Errored: something went wrong that is not a failed check: a
	// panic, bad arguments, a crashed pack, a lost record (T.Errorf).
	Errored
	// Aborted: it was stopped before its end: its timeout passed, the run
	// was stopped, or it chose to (T.Abort).
	Aborted
)

// All lists the seven results from least to most severe.
var All = []Result{Skipped, Passed, Passx, Blocked, Failed, Errored, Aborted}

var names = [...]string{"", "skipped", "passed", "passx", "blocked", "failed", "errored", "aborted"}

// String returns the lower-case name used in results.json ("passed").
func (r Result) String() string {
	if int(r) < len(names) {
		return names[r]
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// Title returns the name as pyATS prints it ("Passed").
func (r Result) Title() string {
	s := r.String()
	if s == "" {
		return "Unset"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Parse reads a result name, in any case.
func Parse(s string) (Result, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for i, n := range names {
		if i > 0 && n == l {
			return Result(i), nil
		}
	}
	return Unset, fmt.Errorf("unknown result %q (want one of passed, failed, errored, aborted, blocked, skipped, passx)", s)
}

// Rollup combines results: the most severe wins, and Unset is ignored.
// Rollup() is Unset.
func Rollup(rs ...Result) Result {
	out := Unset
	for _, r := range rs {
		if r > out {
			out = r
		}
	}
	return out
}

// Or returns r, or def when r is Unset.
func (r Result) Or(def Result) Result {
	if r == Unset {
		return def
	}
	return r
}

// Success reports whether r counts towards the success rate and exit code 0:
// Passed, Passx and Skipped. The same test decides what goes on: a step that
// is not a success stops its section (unless it was started to continue),
// and a task that is not a success blocks the tasks that depend on it.
func (r Result) Success() bool { return r == Passed || r == Passx || r == Skipped }

// MarshalText writes the lower-case name.
func (r Result) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a name written by MarshalText; the empty string is Unset.
func (r *Result) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*r = Unset
		return nil
	}
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
