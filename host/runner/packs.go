package runner

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/packs"
)

// PackOptions say where Validate and Prepare find installed packs.
type PackOptions struct {
	// Dir is the packs directory; "" means packs.DefaultDir().
	Dir string
}

// resolvePacks finds the installed packs of the job and checks every pack
// against the lock file beside the jobfile (host/packs.Resolve).
func resolvePacks(job *jobfile.Job, opts []PackOptions) hcl.Diagnostics {
	var o PackOptions
	if len(opts) > 0 {
		o = opts[len(opts)-1]
	}
	return packs.Resolve(job, packs.Dir{Root: o.Dir})
}
