package launch

import (
	"os"
	"slices"
	"strings"
)

// VarPrefix starts the names of the environment variables that give
// jobfile variables their values (TASKHOST_VAR_name). A pack gets a
// variable's value in its task's args, if the task takes it, never in
// its environment.
const VarPrefix = "TASKHOST_VAR_"

// HostEnviron is the host's environment without the jobfile variables'
// values (VarPrefix): what a pack process starts with.
func HostEnviron() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, VarPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

// environ is the pack process's environment: Environ (HostEnviron if
// nil) and Env.
func (c Config) environ() []string {
	env := c.Environ
	if env == nil {
		env = HostEnviron()
	}
	return append(slices.Clip(env), c.Env...)
}
