// Package sdkhook lets the host's unit tests (internal/packtest) serve an
// sdk.Set in the test process over the pack protocol, as sdk/sdktest does
// through sdk/internal, which packages outside sdk/ cannot import.
// sdk/internal/packserver sets NewServer when it is loaded; nothing else
// uses it.
package sdkhook

import (
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/proto/packv1"
)

// NewServer returns the pack service of set (an *sdk.Set), logging the
// tasks it runs to logger.
var NewServer func(set any, logger hclog.Logger) packv1.PackServer
