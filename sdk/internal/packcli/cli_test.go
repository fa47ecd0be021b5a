package packcli

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/sdk/internal/pack"
)

func TestArgFromText(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		typ     cty.Type
		text    string
		want    string
		wantErr string
	}{
		"string is taken as is":       {typ: cty.String, text: "hello world", want: `"hello world"`},
		"string that looks like json": {typ: cty.String, text: "42", want: `"42"`},
		"string with quotes":          {typ: cty.String, text: `say "hi"`, want: `"say \"hi\""`},
		"empty string":                {typ: cty.String, text: "", want: `""`},
		"number":                      {typ: cty.Number, text: "42", want: `42`},
		"float":                       {typ: cty.Number, text: "-1.5e3", want: `-1.5e3`},
		"bool":                        {typ: cty.Bool, text: "true", want: `true`},
		"list":                        {typ: cty.List(cty.String), text: `["a","b"]`, want: `["a","b"]`},
		"map":                         {typ: cty.Map(cty.Number), text: `{"a":1}`, want: `{"a":1}`},
		"dynamic json":                {typ: cty.DynamicPseudoType, text: `{"a":[1]}`, want: `{"a":[1]}`},
		"dynamic number":              {typ: cty.DynamicPseudoType, text: `7`, want: `7`},
		"dynamic text":                {typ: cty.DynamicPseudoType, text: `plain words`, want: `"plain words"`},
		"number not json":             {typ: cty.Number, text: "forty", wantErr: `argument "arg" wants number; "forty" is not JSON`},
		"list not json":               {typ: cty.List(cty.String), text: "a,b", wantErr: `"a,b" is not JSON`},
		"bool not json":               {typ: cty.Bool, text: "yes", wantErr: `"yes" is not JSON`},
		"empty number":                {typ: cty.Number, text: "", wantErr: "is not JSON"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ty, err := ctyjson.MarshalType(tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ArgFromText(pack.ArgInfo{Name: "arg", Type: ty}, tc.text)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ArgFromText(%q) = %s, want an error", tc.text, got)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ArgFromText(%q): %v", tc.text, err)
			}
			if string(got) != tc.want {
				t.Errorf("ArgFromText(%q) = %s, want %s", tc.text, got, tc.want)
			}
		})
	}
}
