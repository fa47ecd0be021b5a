package jobfile

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestEncodeObjectAsJSONMarshal: a task's args object is written with
// the bytes json.Marshal wrote for the map of its values, whatever the
// names and values hold.
func TestEncodeObjectAsJSONMarshal(t *testing.T) {
	// Sorted, as checkTaskArgs sorts them.
	names := []string{"", "\t", "a", "a b", "d<", "e&f", "g>", "q\"", "s\\", "z", "\x7f", "é", "\u2028", "\xff"}
	if !slices.IsSorted(names) {
		t.Fatal("names not sorted")
	}
	vals := []cty.Value{
		cty.StringVal("<b>&amp;</b>"), cty.StringVal("line\nnext\u2029"), cty.NumberIntVal(830),
		cty.NumberFloatVal(1.5), cty.True, cty.NullVal(cty.String),
		cty.ObjectVal(map[string]cty.Value{"<k>": cty.StringVal("v&"), "n": cty.ListVal([]cty.Value{cty.NumberIntVal(1)})}),
		cty.MapVal(map[string]cty.Value{"x": cty.StringVal("\xff")}),
		cty.TupleVal([]cty.Value{cty.StringVal("é"), cty.False}),
		cty.StringVal(""), cty.NumberIntVal(-7), cty.StringVal("\x00"), cty.StringVal("ok"), cty.EmptyObjectVal,
	}
	raws := make([]json.RawMessage, len(names))
	want := map[string]json.RawMessage{}
	for i, name := range names {
		if i == 3 {
			continue // a deferred arg: not written
		}
		raw, err := marshalValue(vals[i], cty.DynamicPseudoType)
		if err != nil {
			t.Fatal(err)
		}
		raws[i] = raw
		want[name] = raw
	}
	wantBytes, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeObject(names, raws); string(got) != string(wantBytes) {
		t.Errorf("encodeObject:\n got %s\nwant %s", got, wantBytes)
	}
	if got := encodeObject(nil, nil); string(got) != "{}" {
		t.Errorf("no args: %s", got)
	}
}
