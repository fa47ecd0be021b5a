package packserver

import (
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/sdkhook"
	"github.com/taskhost/taskhost/sdk/internal/pack"
)

// The host's unit tests serve an sdk.Set in-process through this hook.
func init() {
	sdkhook.NewServer = func(set any, logger hclog.Logger) packv1.PackServer {
		return New(pack.FromSet(set), logger)
	}
}
