package main

import "testing"

func TestMatchTask(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		pattern, id string
		want        bool
	}{
		"exact":               {"setup", "setup", true},
		"exact with brackets": {`ping["r1"]`, `ping["r1"]`, true},
		"block name":          {"ping", `ping["r1"]`, true},
		"block name of count": {"load", "load[3]", true},
		"glob":                {"ping*", `ping["r2"]`, true},
		"glob on names":       {"*-bgp", "r1-bgp", true},
		"no match":            {"ping", "pinger", false},
		"other instance":      {`ping["r1"]`, `ping["r2"]`, false},
		"prefix only":         {"pin", `ping["r1"]`, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := matchTask(tc.pattern, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("matchTask(%q, %q) = %v, want %v", tc.pattern, tc.id, got, tc.want)
			}
		})
	}
}
