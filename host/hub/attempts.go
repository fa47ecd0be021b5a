package hub

import (
	"context"
	"time"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/sdk/result"
)

// Attempts is the hub as host/attempt runs the run's calls through it.
func (h *Hub) Attempts() attempt.Hub { return attempts{h} }

type attempts struct{ *Hub }

func (a attempts) Seal(ctx context.Context, slot int, res result.Result, reason string, at time.Time) error {
	return a.Hub.Seal(ctx, slot, Close{Result: res, Reason: reason, At: at})
}
