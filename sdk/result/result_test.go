package result_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/sdk/result"
)

// Short names for the rollup matrix.
const (
	S = result.Skipped
	P = result.Passed
	X = result.Passx
	B = result.Blocked
	F = result.Failed
	E = result.Errored
	A = result.Aborted
)

// seven lists the results in the order of the rows and columns of
// rollupTable, written out here rather than taken from result.All.
var seven = [7]result.Result{S, P, X, B, F, E, A}

// rollupTable[i][j] is Rollup(seven[i], seven[j]), written out by hand from
// Aborted > Errored > Failed > Blocked > Passx > Passed > Skipped.
var rollupTable = [7][7]result.Result{
	//         S  P  X  B  F  E  A
	/* S */ {S, P, X, B, F, E, A},
	/* P */ {P, P, X, B, F, E, A},
	/* X */ {X, X, X, B, F, E, A},
	/* B */ {B, B, B, B, F, E, A},
	/* F */ {F, F, F, F, F, E, A},
	/* E */ {E, E, E, E, E, E, A},
	/* A */ {A, A, A, A, A, A, A},
}

func TestRollupPairs(t *testing.T) {
	t.Parallel()
	for i, a := range seven {
		for j, b := range seven {
			want := rollupTable[i][j]
			t.Run(a.String()+"+"+b.String(), func(t *testing.T) {
				t.Parallel()
				if got := result.Rollup(a, b); got != want {
					t.Errorf("Rollup(%v, %v) = %v, want %v", a, b, got, want)
				}
			})
		}
	}
}

func TestRollup(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   []result.Result
		want result.Result
	}{
		"none":                   {in: nil, want: result.Unset},
		"only unset":             {in: []result.Result{result.Unset, result.Unset}, want: result.Unset},
		"unset then skipped":     {in: []result.Result{result.Unset, S}, want: S},
		"skipped then unset":     {in: []result.Result{S, result.Unset}, want: S},
		"unset among passed":     {in: []result.Result{P, result.Unset, P}, want: P},
		"one":                    {in: []result.Result{B}, want: B},
		"many, worst in middle":  {in: []result.Result{P, S, A, X, F}, want: A},
		"many, worst at end":     {in: []result.Result{S, P, X, B, F, E}, want: E},
		"skipped does not win":   {in: []result.Result{S, S, P, S}, want: P},
		"passx beats passed":     {in: []result.Result{P, X, P}, want: X},
		"blocked beats passx":    {in: []result.Result{X, B, S}, want: B},
		"failed and aborted":     {in: []result.Result{F, A}, want: A},
		"passed and failed":      {in: []result.Result{P, F}, want: F},
		"errored beats failed":   {in: []result.Result{F, E, F}, want: E},
		"unset does not hide it": {in: []result.Result{result.Unset, F, result.Unset}, want: F},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := result.Rollup(tc.in...); got != tc.want {
				t.Errorf("Rollup(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestOr(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		r, def, want result.Result
	}{
		"unset gives default":        {r: result.Unset, def: P, want: P},
		"unset gives other default":  {r: result.Unset, def: A, want: A},
		"set wins over default":      {r: F, def: P, want: F},
		"skipped is not unset":       {r: S, def: P, want: S},
		"set equal to default":       {r: P, def: P, want: P},
		"unset with unset default":   {r: result.Unset, def: result.Unset, want: result.Unset},
		"less severe than default":   {r: S, def: A, want: S},
		"errored with passx default": {r: E, def: X, want: E},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.r.Or(tc.def); got != tc.want {
				t.Errorf("%v.Or(%v) = %v, want %v", tc.r, tc.def, got, tc.want)
			}
		})
	}
}

func TestSuccess(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		r    result.Result
		want bool
	}{
		"unset":   {r: result.Unset, want: false},
		"skipped": {r: S, want: true},
		"passed":  {r: P, want: true},
		"passx":   {r: X, want: true},
		"blocked": {r: B, want: false},
		"failed":  {r: F, want: false},
		"errored": {r: E, want: false},
		"aborted": {r: A, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.r.Success(); got != tc.want {
				t.Errorf("%v.Success() = %v, want %v", tc.r, got, tc.want)
			}
		})
	}
}

func TestStringParse(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		r     result.Result
		name  string
		title string
	}{
		"skipped": {r: S, name: "skipped", title: "Skipped"},
		"passed":  {r: P, name: "passed", title: "Passed"},
		"passx":   {r: X, name: "passx", title: "Passx"},
		"blocked": {r: B, name: "blocked", title: "Blocked"},
		"failed":  {r: F, name: "failed", title: "Failed"},
		"errored": {r: E, name: "errored", title: "Errored"},
		"aborted": {r: A, name: "aborted", title: "Aborted"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.r.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if got := tc.r.Title(); got != tc.title {
				t.Errorf("Title() = %q, want %q", got, tc.title)
			}
			for _, in := range []string{tc.name, tc.title, strings.ToUpper(tc.name), "  " + tc.name + "\n"} {
				got, err := result.Parse(in)
				if err != nil {
					t.Errorf("Parse(%q): %v", in, err)
					continue
				}
				if got != tc.r {
					t.Errorf("Parse(%q) = %v, want %v", in, got, tc.r)
				}
			}
		})
	}
}

func TestAllIsTheSevenInOrder(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(seven[:], result.All); diff != "" {
		t.Errorf("All (-want +got):\n%s", diff)
	}
}

func TestUnset(t *testing.T) {
	t.Parallel()
	if got := result.Unset.String(); got != "" {
		t.Errorf("Unset.String() = %q, want \"\"", got)
	}
	if got := result.Unset.Title(); got != "Unset" {
		t.Errorf("Unset.Title() = %q, want \"Unset\"", got)
	}
	if got := result.Result(200).String(); got != "result(200)" {
		t.Errorf("Result(200).String() = %q, want \"result(200)\"", got)
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in string
	}{
		"empty":      {in: ""},
		"blank":      {in: "   "},
		"unset":      {in: "unset"},
		"misspelled": {in: "pased"},
		"title only": {in: "pass"},
		"number":     {in: "2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := result.Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tc.in, got)
			}
			if got != result.Unset {
				t.Errorf("Parse(%q) returned %v with its error, want Unset", tc.in, got)
			}
			if !strings.Contains(err.Error(), "unknown result") {
				t.Errorf("Parse(%q) error = %q, want it to say \"unknown result\"", tc.in, err)
			}
		})
	}
}

type holder struct {
	R result.Result `json:"r"`
}

func TestJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		r    result.Result
		json string
	}{
		"passed":  {r: P, json: `{"r":"passed"}`},
		"failed":  {r: F, json: `{"r":"failed"}`},
		"passx":   {r: X, json: `{"r":"passx"}`},
		"skipped": {r: S, json: `{"r":"skipped"}`},
		"blocked": {r: B, json: `{"r":"blocked"}`},
		"errored": {r: E, json: `{"r":"errored"}`},
		"aborted": {r: A, json: `{"r":"aborted"}`},
		"unset":   {r: result.Unset, json: `{"r":""}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(holder{R: tc.r})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tc.json {
				t.Errorf("Marshal = %s, want %s", got, tc.json)
			}
			got := holder{R: result.Aborted + 1} // not a result: unmarshal must overwrite it
			if err := json.Unmarshal([]byte(tc.json), &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", tc.json, err)
			}
			if diff := cmp.Diff(holder{R: tc.r}, got); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", tc.json, diff)
			}
		})
	}
}

func TestUnmarshalJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		json    string
		want    result.Result
		wantErr bool
	}{
		"upper case":   {json: `{"r":"FAILED"}`, want: F},
		"title case":   {json: `{"r":"Passx"}`, want: X},
		"unknown name": {json: `{"r":"green"}`, wantErr: true},
		"a number":     {json: `{"r":2}`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got holder
			err := json.Unmarshal([]byte(tc.json), &got)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %v, want an error", tc.json, got.R)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.R != tc.want {
				t.Errorf("Unmarshal(%s) = %v, want %v", tc.json, got.R, tc.want)
			}
		})
	}
}
