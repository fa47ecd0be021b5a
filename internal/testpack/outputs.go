package main

import (
	"fmt"

	"github.com/taskhost/taskhost/sdk"
)

// ProvideArgs are provide's arguments.
type ProvideArgs struct {
	Addr string `arg:"addr,required"`
	Port int    `arg:"port"`
}

// ConsumeArgs are consume's arguments.
type ConsumeArgs struct {
	Device string `arg:"device,required"`
	Target string `arg:"target"`
	Addr   string `arg:"addr,required"`
	Port   int    `arg:"port"`
	Secret string `arg:"secret"`
}

// registerOutputTasks adds the tasks that pass data through outputs.
func registerOutputTasks(s *sdk.Set) {
	sdk.Register(s, "provide", "Sets the outputs addr and port from its args (and never token).", func(t *sdk.T, a ProvideArgs) {
		t.SetOutput("addr", a.Addr)
		t.SetOutput("port", a.Port)
	})
	s.DeclareOutputs("provide",
		sdk.Output{Name: "addr", Doc: "The address given."},
		sdk.Output{Name: "port", Doc: "The port given."},
		sdk.Output{Name: "token", Doc: "Declared, never set."})
	sdk.Register(s, "consume", "Sets the output seen to what its args were; fails if secret is not \"hunter2\" when given.", func(t *sdk.T, a ConsumeArgs) {
		t.SetOutput("seen", fmt.Sprintf("%s(%s) via %s:%d", a.Device, a.Target, a.Addr, a.Port))
		if a.Secret != "" && a.Secret != "hunter2" {
			t.Failf("secret did not arrive")
		}
	})
	s.DeclareOutputs("consume", sdk.Output{Name: "seen", Doc: "What the task was given."})
}
