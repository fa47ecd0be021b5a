package sdk_test

import (
	"time"

	"github.com/taskhost/taskhost/sdk"
)

// PingArgs are the arguments of the ping task. The host checks a jobfile's
// args against them before anything runs.
type PingArgs struct {
	Host  string        `arg:"host,required" doc:"the host to ping"`
	Count int           `doc:"how many packets (default 3)"`
	Wait  time.Duration `doc:"how long to wait for each reply, e.g. \"1s\""`
}

// Ping reports a step per packet; a lost packet fails its step but the
// others still run.
func Ping(t *sdk.T, args PingArgs) {
	count := args.Count
	if count == 0 {
		count = 3
	}
	t.Step("resolve "+args.Host, func(t *sdk.T) {
		if args.Host == "" {
			t.Failf("no host to ping")
		}
		t.Log("resolved ", args.Host)
	})
	for i := range count {
		t.Step("packet", func(t *sdk.T) {
			if lost := i == 2; lost {
				t.Failf("packet %d: no reply within %s", i+1, args.Wait)
			}
			t.Logf("packet %d: reply", i+1)
		}, sdk.Continue)
	}
}

// A pack's main: make a set, register its tasks, run it. Run serves the
// pack to a host, or gives it a command line when started by hand
// (`PACK describe`, `PACK run ping --arg host=r1`); it does not return.
func Example() {
	s := sdk.NewSet("net", "0.1.0")
	sdk.Register(s, "ping", "Pings a host.", Ping)

	// In main: s.Run()
	_ = s
}
