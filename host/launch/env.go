package launch

import (
	"os"
	"slices"
)

// environ is the pack process's environment: Environ (the host's if nil)
// and Env.
func (c Config) environ() []string {
	env := c.Environ
	if env == nil {
		env = os.Environ()
	}
	return append(slices.Clip(env), c.Env...)
}
