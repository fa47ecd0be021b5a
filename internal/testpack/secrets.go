package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/taskhost/taskhost/sdk"
)

// LeakArgs are leak's arguments.
type LeakArgs struct {
	Secret string `arg:"secret,required"`
}

// registerSecretTasks adds the tasks that show what a run does with
// sensitive values and the environment.
func registerSecretTasks(s *sdk.Set) {
	sdk.Register(s, "leak", "Puts its secret everywhere it can: the log, a raw write to stderr, a child's output, a step's name, reason and data, the task's reason and an output.", Leak)
	s.DeclareOutputs("leak", sdk.Output{Name: "echo", Doc: "The secret."})
	sdk.Register(s, "environ", "Records which TASKHOST_VAR_* variables it and a child of its own see, and whether both see TASKHOST_TEST_MARKER.", Environ)
}

// Leak does with its secret all that a careless task could.
func Leak(t *sdk.T, a LeakArgs) {
	t.SetOutput("echo", a.Secret)
	t.Step("raw", func(t *sdk.T) {
		t.Logf("logged: the secret is %s", a.Secret)
		// Past the SDK's logger: straight into task.log, and a child's
		// own log file.
		fmt.Fprintf(os.Stderr, "printed: the secret is %s\n", a.Secret)
		if err := t.Command("sh", "-c", `echo "child: the secret is $1"`, "sh", a.Secret).Run(); err != nil {
			t.Errorf("child: %v", err)
		}
	})
	t.Step("after", func(t *sdk.T) {
		t.Logf("the line of the step after")
	})
	t.Step("login as "+a.Secret, func(t *sdk.T) {
		t.SetData(map[string]any{"token": a.Secret, a.Secret: []string{"x" + a.Secret + "y"}})
		t.Failf("password %s refused", a.Secret)
	}, sdk.Continue)
	t.SetData(map[string]string{"secret": a.Secret})
	t.Failf("could not log in with %s", a.Secret)
}

// Environ records the names of the TASKHOST_VAR_* variables that it and
// its child see (never their values).
func Environ(t *sdk.T, _ sdk.NoArgs) {
	t.Step("look", func(t *sdk.T) {
		out, err := t.Command("env").Output()
		if err != nil {
			t.Errorf("env: %v", err)
		}
		own, ownMarker := varNames(os.Environ())
		child, childMarker := varNames(strings.Split(string(out), "\n"))
		t.SetData(map[string]any{"own": own, "child": child, "own_marker": ownMarker, "child_marker": childMarker})
	})
}

func varNames(env []string) (names []string, marker bool) {
	names = []string{}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TASKHOST_VAR_") {
			names = append(names, name)
		}
		marker = marker || name == "TASKHOST_TEST_MARKER"
	}
	slices.Sort(names)
	return names, marker
}
