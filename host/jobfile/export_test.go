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
