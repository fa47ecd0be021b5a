package sdk

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
)

var ctyTypeEqual = cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) })

type innerArgs struct {
	Name       string `arg:",required"`
	Port       int    `doc:"TCP port"`
	Secure     bool
	unexported int
}

type allArgs struct {
	Host         string `arg:"address,required" doc:"The host to reach."`
	ExpectStatus int    `doc:"HTTP status"`
	Secret       string `arg:"-"`
	private      string
	Verbose      bool
	Ratio        float64
	Tags         []string
	Limits       map[string]int
	Timeout      time.Duration `arg:",required"`
	Extra        any
	Raw          json.RawMessage
	Inner        innerArgs
	HTTPServer   string
	Count8       int8
	MaybeName    *string
	Matrix       [][]float32
}

func TestArgSpecs(t *testing.T) {
	t.Parallel()
	specs, err := argSpecs(reflect.TypeFor[allArgs]())
	if err != nil {
		t.Fatal(err)
	}
	want := []argSpec{
		{Name: "address", Doc: "The host to reach.", Required: true, Type: cty.String, field: 0},
		{Name: "expect_status", Doc: "HTTP status", Type: cty.Number, field: 1},
		{Name: "verbose", Type: cty.Bool, field: 4},
		{Name: "ratio", Type: cty.Number, field: 5},
		{Name: "tags", Type: cty.List(cty.String), field: 6},
		{Name: "limits", Type: cty.Map(cty.Number), field: 7},
		{Name: "timeout", Required: true, Type: cty.String, field: 8, duration: true},
		{Name: "extra", Type: cty.DynamicPseudoType, field: 9},
		{Name: "raw", Type: cty.DynamicPseudoType, field: 10},
		{Name: "inner", Type: cty.ObjectWithOptionalAttrs(map[string]cty.Type{
			"name": cty.String, "port": cty.Number, "secure": cty.Bool,
		}, []string{"port", "secure"}), field: 11},
		{Name: "http_server", Type: cty.String, field: 12},
		{Name: "count8", Type: cty.Number, field: 13},
		{Name: "maybe_name", Type: cty.String, field: 14},
		{Name: "matrix", Type: cty.List(cty.List(cty.Number)), field: 15},
	}
	if diff := cmp.Diff(want, specs, ctyTypeEqual, cmp.AllowUnexported(argSpec{})); diff != "" {
		t.Errorf("argSpecs (-want +got):\n%s", diff)
	}
}

func TestArgSpecsNested(t *testing.T) {
	t.Parallel()
	type leaf struct {
		V string `arg:"value"`
	}
	type mid struct {
		Leaves []leaf
		ByName map[string]leaf `arg:"by_name,required"`
	}
	type top struct {
		M   mid
		Ptr *mid
	}
	specs, err := argSpecs(reflect.TypeFor[top]())
	if err != nil {
		t.Fatal(err)
	}
	leafT := cty.ObjectWithOptionalAttrs(map[string]cty.Type{"value": cty.String}, []string{"value"})
	midT := cty.ObjectWithOptionalAttrs(map[string]cty.Type{
		"leaves": cty.List(leafT), "by_name": cty.Map(leafT),
	}, []string{"leaves"})
	var got []cty.Type
	for _, s := range specs {
		got = append(got, s.Type)
	}
	if diff := cmp.Diff([]cty.Type{midT, midT}, got, ctyTypeEqual); diff != "" {
		t.Errorf("types (-want +got):\n%s", diff)
	}
	// A required nested attribute is not optional; an optional one is.
	if midT.Equals(cty.ObjectWithOptionalAttrs(map[string]cty.Type{
		"leaves": cty.List(leafT), "by_name": cty.Map(leafT),
	}, []string{"leaves", "by_name"})) {
		t.Fatal("cty ignores optional attributes in Equals; this test checks nothing")
	}
}

func TestArgSpecsNoArgs(t *testing.T) {
	t.Parallel()
	specs, err := argSpecs(reflect.TypeFor[NoArgs]())
	if err != nil || len(specs) != 0 {
		t.Errorf("argSpecs(NoArgs) = %v, %v; want none, nil", specs, err)
	}
}

func TestArgSpecsErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		typ  reflect.Type
		want string
	}{
		"not a struct": {typ: reflect.TypeFor[int](), want: "is not a struct"},
		"pointer":      {typ: reflect.TypeFor[*allArgs](), want: "is not a struct"},
		"declared twice": {typ: reflect.TypeFor[struct {
			A string `arg:"x"`
			X int
		}](), want: `argument "x" is declared twice`},
		"chan":      {typ: reflect.TypeFor[struct{ C chan int }](), want: `argument "c"`},
		"func":      {typ: reflect.TypeFor[struct{ F func() }](), want: "cannot be an argument"},
		"int keys":  {typ: reflect.TypeFor[struct{ M map[int]string }](), want: "map keys must be strings"},
		"bad elem":  {typ: reflect.TypeFor[struct{ L []chan int }](), want: "cannot be an argument"},
		"bad inner": {typ: reflect.TypeFor[struct{ I struct{ F func() } }](), want: "cannot be an argument"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			specs, err := argSpecs(tc.typ)
			if err == nil {
				t.Fatalf("argSpecs(%s) = %v, want an error", tc.typ, specs)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSnake(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want string
	}{
		"one word":         {in: "Host", want: "host"},
		"two words":        {in: "ExpectStatus", want: "expect_status"},
		"three words":      {in: "MaxRetryCount", want: "max_retry_count"},
		"initialism first": {in: "HTTPServer", want: "http_server"},
		"initialism last":  {in: "ServerURL", want: "server_url"},
		"initialism only":  {in: "ID", want: "id"},
		"initialism mid":   {in: "UseTLSCert", want: "use_tls_cert"},
		"digits":           {in: "Count8", want: "count8"},
		"already lower":    {in: "x", want: "x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := snake(tc.in); got != tc.want {
				t.Errorf("snake(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

type decodeTarget struct {
	Host    string `arg:"address,required"`
	Count   int
	Verbose bool
	Ratio   float64
	Tags    []string
	Limits  map[string]int
	Timeout time.Duration
	Extra   any
	Raw     json.RawMessage
	Inner   innerArgs
	Secret  string `arg:"-"`
}

func TestDecodeArgs(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[decodeTarget]()
	specs, err := argSpecs(typ)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		json string
		want decodeTarget
	}{
		"every field": {
			json: `{"address":"r1","count":3,"verbose":true,"ratio":0.5,"tags":["a","b"],
				"limits":{"cpu":2},"timeout":"1m30s","extra":{"k":[1,"x"]},"raw":[1, 2],
				"inner":{"name":"n","port":22,"secure":true}}`,
			want: decodeTarget{
				Host: "r1", Count: 3, Verbose: true, Ratio: 0.5, Tags: []string{"a", "b"},
				Limits: map[string]int{"cpu": 2}, Timeout: 90 * time.Second,
				Extra: map[string]any{"k": []any{1.0, "x"}}, Raw: json.RawMessage(`[1, 2]`),
				Inner: innerArgs{Name: "n", Port: 22, Secure: true},
			},
		},
		"required only": {json: `{"address":"r2"}`, want: decodeTarget{Host: "r2"}},
		"nulls are missing": {
			json: `{"address":"r3","count":null,"timeout":null}`,
			want: decodeTarget{Host: "r3"},
		},
		"milliseconds": {json: `{"address":"a","timeout":"250ms"}`, want: decodeTarget{Host: "a", Timeout: 250 * time.Millisecond}},
		"hours":        {json: `{"address":"a","timeout":"2h"}`, want: decodeTarget{Host: "a", Timeout: 2 * time.Hour}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := decodeArgs(typ, specs, []byte(tc.json))
			if err != nil {
				t.Fatalf("decodeArgs: %v", err)
			}
			got := v.Interface().(decodeTarget)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(innerArgs{})); diff != "" {
				t.Errorf("decodeArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeArgsEmpty(t *testing.T) {
	t.Parallel()
	type opt struct {
		A string
		B int
	}
	typ := reflect.TypeFor[opt]()
	specs, err := argSpecs(typ)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"", "  ", "{}", "null"} {
		v, err := decodeArgs(typ, specs, []byte(in))
		if err != nil {
			t.Errorf("decodeArgs(%q): %v", in, err)
			continue
		}
		if got := v.Interface().(opt); got != (opt{}) {
			t.Errorf("decodeArgs(%q) = %+v, want zero", in, got)
		}
	}
}

func TestDecodeArgsErrors(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[decodeTarget]()
	specs, err := argSpecs(typ)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		json string
		want string
	}{
		"not an object":    {json: `["address"]`, want: "arguments are not a JSON object"},
		"not json":         {json: `{address: 1}`, want: "arguments are not a JSON object"},
		"unknown argument": {json: `{"address":"a","colour":"red"}`, want: `unknown argument "colour" (this task takes address, count, verbose, ratio, tags, limits, timeout, extra, raw, inner)`},
		"left-out field":   {json: `{"address":"a","secret":"s"}`, want: `unknown argument "secret"`},
		"go field name":    {json: `{"address":"a","Host":"h"}`, want: `unknown argument "Host"`},
		"missing required": {json: `{"count":1}`, want: `missing required argument "address"`},
		"required is null": {json: `{"address":null}`, want: `missing required argument "address"`},
		"string for int":   {json: `{"address":"a","count":"3"}`, want: `argument "count"`},
		"int for string":   {json: `{"address":5}`, want: `argument "address"`},
		"float for int":    {json: `{"address":"a","count":1.5}`, want: `argument "count"`},
		"object for list":  {json: `{"address":"a","tags":{"a":1}}`, want: `argument "tags"`},
		"bad duration":     {json: `{"address":"a","timeout":"ten minutes"}`, want: `argument "timeout"`},
		"duration number":  {json: `{"address":"a","timeout":90}`, want: `argument "timeout": want a duration such as "30s"`},
		"wrong map value":  {json: `{"address":"a","limits":{"cpu":"two"}}`, want: `argument "limits[\"cpu\"]"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := decodeArgs(typ, specs, []byte(tc.json))
			if err == nil {
				t.Fatalf("decodeArgs(%s) = %+v, want an error", tc.json, v.Interface())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A nested struct's attributes are named like top-level arguments (snake
// case, the arg tag), so decodeArgs must fill them by those names.
func TestDecodeArgsNestedNames(t *testing.T) {
	t.Parallel()
	type conn struct {
		ListenPort int    `doc:"port"`
		Peer       string `arg:"peer_address"`
	}
	type args struct {
		Conn  conn
		Conns []conn
	}
	typ := reflect.TypeFor[args]()
	specs, err := argSpecs(typ)
	if err != nil {
		t.Fatal(err)
	}
	// The names argSpecs advertises for conn's attributes.
	want := cty.ObjectWithOptionalAttrs(map[string]cty.Type{"listen_port": cty.Number, "peer_address": cty.String},
		[]string{"listen_port", "peer_address"})
	if !specs[0].Type.Equals(want) {
		t.Fatalf("conn type = %#v, want %#v", specs[0].Type, want)
	}
	v, err := decodeArgs(typ, specs, []byte(`{"conn":{"listen_port":8080,"peer_address":"10.0.0.1"},
		"conns":[{"listen_port":1,"peer_address":"p"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := args{Conn: conn{ListenPort: 8080, Peer: "10.0.0.1"}, Conns: []conn{{ListenPort: 1, Peer: "p"}}}
	if diff := cmp.Diff(wantArgs, v.Interface().(args)); diff != "" {
		t.Errorf("decodeArgs (-want +got):\n%s", diff)
	}
}

// A *time.Duration argument is advertised as a string, so a string such as
// "30s" must decode into it.
func TestDecodeArgsDurationPointer(t *testing.T) {
	t.Parallel()
	type args struct {
		Wait  *time.Duration
		Waits []time.Duration
	}
	typ := reflect.TypeFor[args]()
	specs, err := argSpecs(typ)
	if err != nil {
		t.Fatalf("argSpecs: %v (if refused, the type must not be advertised as a string)", err)
	}
	if !specs[0].Type.Equals(cty.String) || !specs[1].Type.Equals(cty.List(cty.String)) {
		t.Fatalf("types = %#v, %#v; want string, list of string", specs[0].Type, specs[1].Type)
	}
	v, err := decodeArgs(typ, specs, []byte(`{"wait":"30s","waits":["1s","2m"]}`))
	if err != nil {
		t.Fatalf("decodeArgs: %v", err)
	}
	got := v.Interface().(args)
	if got.Wait == nil || *got.Wait != 30*time.Second {
		t.Errorf("Wait = %v, want 30s", got.Wait)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Minute}, got.Waits); diff != "" {
		t.Errorf("Waits (-want +got):\n%s", diff)
	}
}
