package jobfile

import "github.com/hashicorp/hcl/v2"

// LoadSourceSmall is LoadSource with far smaller work and task limits
// (MaxWork, MaxTasks), for fuzzing, where each input must take
// milliseconds: a jobfile refused by the real limits is refused by these,
// sooner.
func LoadSourceSmall(filename string, src []byte) (*Job, hcl.Diagnostics) {
	m := newMeter()
	m.maxWork, m.maxTasks = 20_000, 200
	return loadWithMeter(filename, src, Options{}, m)
}

// LoadWithWork is LoadWith with a work limit of maxWork steps instead of
// MaxWork, for tests of what passes it: at the full limit each takes a
// second or two, ten times that under the race detector.
func LoadWithWork(path string, opts Options, maxWork int) (*Job, hcl.Diagnostics) {
	src, err := readFile(path, MaxSourceBytes)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Failed to read jobfile", Detail: err.Error()}}
	}
	m := newMeter()
	m.maxWork = maxWork
	return loadWithMeter(path, src, opts, m)
}
