package packwire

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/result"
)

// RunFunc makes one Run call of a started pack (launch.Process.Run, or a
// packv1.PackClient's Run).
type RunFunc func(ctx context.Context, req *packv1.RunRequest) (*packv1.RunResponse, error)

// Run makes call c with run and returns the pack's reply. An error that
// says the call was cancelled or ran past its deadline (as the pack saw
// it) wraps attempt.ErrCancelled; its text is the call's.
func Run(ctx context.Context, run RunFunc, c attempt.Call) (attempt.Reply, error) {
	resp, err := run(ctx, RunRequest(c))
	if err != nil {
		if code := status.Code(err); code == codes.Canceled || code == codes.DeadlineExceeded {
			err = cancelled{err}
		}
		return attempt.Reply{}, err
	}
	return Reply(resp), nil
}

// cancelled is a Run error that says the call was cancelled.
type cancelled struct{ err error }

func (e cancelled) Error() string   { return e.err.Error() }
func (e cancelled) Unwrap() []error { return []error{e.err, attempt.ErrCancelled} }

// RunRequest is the pack protocol's request for call c.
func RunRequest(c attempt.Call) *packv1.RunRequest {
	req := &packv1.RunRequest{
		Task: c.Task, ArgsJson: c.Args, RunId: c.RunID, TaskId: c.ID, Attempt: int32(c.Attempt),
		Hub: Hub(c.Hub), LogDir: c.LogDir, Interactive: c.Interactive, Sensitive: c.Sensitive,
	}
	if !c.Deadline.IsZero() {
		req.DeadlineUnixNano = c.Deadline.UnixNano()
	}
	if h := c.Hook; h != nil {
		req.Hook = &packv1.HookCall{Name: h.Name, Stage: h.Stage, TaskId: h.TaskID, ResultsJson: h.Results}
	}
	return req
}

// Call is the call a RunRequest makes (the inverse of RunRequest).
func Call(req *packv1.RunRequest) attempt.Call {
	c := attempt.Call{
		Task: req.GetTask(), Args: req.GetArgsJson(), RunID: req.GetRunId(), ID: req.GetTaskId(), Attempt: int(req.GetAttempt()),
		LogDir: req.GetLogDir(), Interactive: req.GetInteractive(), Sensitive: req.GetSensitive(),
	}
	if h := req.GetHub(); h != nil {
		c.Hub = attempt.HubAccess{URL: h.GetUrl(), Token: h.GetToken(), EventsSubject: h.GetEventsSubject(),
			InboxPrefix: h.GetInboxPrefix(), MsgIDPrefix: h.GetMsgIdPrefix(), StateSocket: h.GetStateSocket(), CA: h.GetTlsCaPem()}
	}
	if dl := req.GetDeadlineUnixNano(); dl != 0 {
		c.Deadline = time.Unix(0, dl)
	}
	if h := req.GetHook(); h != nil {
		c.Hook = &attempt.HookCall{Name: h.GetName(), Stage: h.GetStage(), TaskID: h.GetTaskId(), Results: h.GetResultsJson()}
	}
	return c
}

// Hub is the pack protocol's form of a call's hub credentials. Its CA
// (tls_ca_pem) is a field of protocol version 2: a pack that speaks
// only version 1 ignores it (launch.Process.Run refuses such a call).
func Hub(a attempt.HubAccess) *packv1.Hub {
	return &packv1.Hub{Url: a.URL, Token: a.Token, EventsSubject: a.EventsSubject, InboxPrefix: a.InboxPrefix,
		MsgIdPrefix: a.MsgIDPrefix, StateSocket: a.StateSocket, TlsCaPem: a.CA}
}

// Reply is the host's form of a pack's RunResponse. A result the host
// does not know is the zero Result, as the host always read it.
func Reply(resp *packv1.RunResponse) attempt.Reply {
	res, _ := result.Parse(resp.GetResult())
	return attempt.Reply{Result: res, Reason: resp.GetReason(), LastSeq: resp.GetLastSeq(), Outputs: resp.GetOutputs()}
}
