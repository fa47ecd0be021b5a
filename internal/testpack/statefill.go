package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/taskhost/taskhost/sdk"
)

func registerStateTasks(s *sdk.Set) {
	sdk.Register(s, "statefill", "Puts values of size bytes under new keys fill.0, fill.1, … until the shared state refuses one, at most max; records how many it put and the error.", StateFill)
	sdk.Register(s, "stateafter", "After statefill: reads fill.0, adds 1 to counter, deletes fill.1 and puts other.ok.", StateAfter)
}

// StateFillArgs are statefill's arguments.
type StateFillArgs struct {
	Size int `arg:"size" doc:"bytes of each value, as JSON; default 65536"`
	Max  int `arg:"max" doc:"the most values to put; default 1000"`
}

// StateFill puts until the state is full.
func StateFill(t *sdk.T, a StateFillArgs) {
	size, most := a.Size, a.Max
	if size <= 0 {
		size = 64 << 10
	}
	if most <= 0 {
		most = 1000
	}
	value := strings.Repeat("x", size-2) // a JSON string of size bytes
	t.Step("fill", func(t *sdk.T) {
		var err error
		n := 0
		for ; n < most; n++ {
			if _, err = t.State().Put(fmt.Sprintf("fill.%d", n), value); err != nil {
				break
			}
		}
		t.SetData(map[string]any{"puts": n, "error": fmt.Sprint(err), "full": errors.Is(err, sdk.ErrStateFull)})
		if err != nil && !errors.Is(err, sdk.ErrStateFull) {
			t.Errorf("put fill.%d: %v", n, err)
		}
	})
}

// StateAfter uses the state that statefill filled.
func StateAfter(t *sdk.T, _ sdk.NoArgs) {
	st := t.State()
	t.Step("get", func(t *sdk.T) {
		var v string
		if _, err := st.Get("fill.0", &v); err != nil {
			t.Errorf("%v", err)
		}
	})
	t.Step("add", func(t *sdk.T) {
		if _, err := st.Add("counter", 1); err != nil {
			t.Errorf("%v", err)
		}
	})
	t.Step("delete", func(t *sdk.T) {
		if err := st.Delete("fill.1"); err != nil {
			t.Errorf("%v", err)
		}
	})
	t.Step("put", func(t *sdk.T) {
		if _, err := st.Put("other.ok", true); err != nil {
			t.Errorf("%v", err)
		}
	})
}
