package sdk

import (
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/sdkhook"
)

// sdk/sdktest serves a Set in the test process through this hook.
func init() {
	sdkhook.NewServer = func(set any, logger hclog.Logger) packv1.PackServer {
		return &server{set: set.(*Set), logger: logger}
	}
}
