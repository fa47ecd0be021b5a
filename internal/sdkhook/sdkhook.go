// Package sdkhook lets sdk/sdktest reach the SDK's pack server without the
// SDK exporting it: the sdk package sets NewServer when it is loaded.
package sdkhook

import (
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/proto/packv1"
)

// NewServer returns the pack service for set (an *sdk.Set), logging the
// tasks it runs to logger.
var NewServer func(set any, logger hclog.Logger) packv1.PackServer
