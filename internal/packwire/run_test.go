package packwire

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/result"
)

// A call becomes the RunRequest the pack protocol has always sent, field
// for field, and back.
func TestRunRequest(t *testing.T) {
	t.Parallel()
	dl := time.Unix(0, 1_700_000_000_123_456_789)
	access := attempt.HubAccess{URL: "nats://127.0.0.1:4222", Token: "tok", EventsSubject: "th.k.ev.t3",
		InboxPrefix: "_th.k.t3", MsgIDPrefix: "t3.ab.", StateSocket: "/s/state.sock"}
	hubv1 := &packv1.Hub{Url: "nats://127.0.0.1:4222", Token: "tok", EventsSubject: "th.k.ev.t3",
		InboxPrefix: "_th.k.t3", MsgIdPrefix: "t3.ab.", StateSocket: "/s/state.sock"}
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	remote := access
	remote.URL, remote.CA = "tls://hub.example:4222", ca
	remotev1 := &packv1.Hub{Url: "tls://hub.example:4222", Token: "tok", EventsSubject: "th.k.ev.t3",
		InboxPrefix: "_th.k.t3", MsgIdPrefix: "t3.ab.", StateSocket: "/s/state.sock", TlsCaPem: ca}
	for name, tc := range map[string]struct {
		call attempt.Call
		want *packv1.RunRequest
	}{
		"task": {
			call: attempt.Call{Pack: "p", Task: "ping", Args: []byte(`{"a":1}`), RunID: "job.1", ID: "t1", Attempt: 2,
				LogDir: "/runs/x/tasks/t1", Interactive: true, Sensitive: []string{"s"}, Hub: access, Deadline: dl},
			want: &packv1.RunRequest{Task: "ping", ArgsJson: []byte(`{"a":1}`), RunId: "job.1", TaskId: "t1", Attempt: 2,
				LogDir: "/runs/x/tasks/t1", Interactive: true, Sensitive: []string{"s"}, Hub: hubv1, DeadlineUnixNano: dl.UnixNano()},
		},
		"hook, no deadline": {
			call: attempt.Call{Pack: "p", Args: []byte(`{}`), RunID: "job.1", ID: "h.pre_task.t1", Attempt: 1, Hub: access,
				Hook: &attempt.HookCall{Name: "h", Stage: "pre_task", TaskID: "t1", Results: []byte(`{"job":"j"}`)}},
			want: &packv1.RunRequest{ArgsJson: []byte(`{}`), RunId: "job.1", TaskId: "h.pre_task.t1", Attempt: 1, Hub: hubv1,
				Hook: &packv1.HookCall{Name: "h", Stage: "pre_task", TaskId: "t1", ResultsJson: []byte(`{"job":"j"}`)}},
		},
		"task on an agent: the hub over TLS": {
			call: attempt.Call{Task: "ping", Args: []byte(`{}`), RunID: "job.1", ID: "t2", Attempt: 1, Hub: remote},
			want: &packv1.RunRequest{Task: "ping", ArgsJson: []byte(`{}`), RunId: "job.1", TaskId: "t2", Attempt: 1, Hub: remotev1},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := RunRequest(tc.call)
			if d := cmp.Diff(tc.want, req, protocmp.Transform()); d != "" {
				t.Errorf("request (-want +got):\n%s", d)
			}
			back := tc.call
			back.Pack = "" // not sent: the pack is the one called
			if d := cmp.Diff(back, Call(req)); d != "" {
				t.Errorf("call read back (-want +got):\n%s", d)
			}
		})
	}
}

// A reply is the response's result, reason, last event and outputs; an
// unknown result is the zero Result.
func TestReply(t *testing.T) {
	t.Parallel()
	got := Reply(&packv1.RunResponse{Result: "failed", Reason: "why", LastSeq: 9, Outputs: map[string][]byte{"o": []byte(`1`)}})
	want := attempt.Reply{Result: result.Failed, Reason: "why", LastSeq: 9, Outputs: map[string][]byte{"o": []byte(`1`)}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reply (-want +got):\n%s", d)
	}
	if got := Reply(&packv1.RunResponse{Result: "no such result"}); got.Result != result.Result(0) {
		t.Errorf("unknown result read as %s", got.Result)
	}
}

// A call cancelled or past its deadline (as the pack saw it) wraps
// attempt.ErrCancelled, with the call's own error text; other errors
// do not.
func TestRunCancelled(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err       error
		cancelled bool
	}{
		"cancelled":         {status.Error(codes.Canceled, "context canceled"), true},
		"deadline exceeded": {status.Error(codes.DeadlineExceeded, "deadline"), true},
		"unavailable":       {status.Error(codes.Unavailable, "connection reset"), false},
		"not a status":      {errors.New("boom"), false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Run(context.Background(), func(context.Context, *packv1.RunRequest) (*packv1.RunResponse, error) {
				return nil, tc.err
			}, attempt.Call{})
			if errors.Is(err, attempt.ErrCancelled) != tc.cancelled || err.Error() != tc.err.Error() {
				t.Errorf("error %q: cancelled %v, want %v (text %q)", err, errors.Is(err, attempt.ErrCancelled), tc.cancelled, tc.err)
			}
		})
	}
}
