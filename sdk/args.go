package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// NoArgs is the argument type of a task that takes none.
type NoArgs struct{}

// argSpec describes one field of a task's argument struct.
type argSpec struct {
	Name     string
	Doc      string
	Required bool
	Type     cty.Type
	field    int
	duration bool
}

var durationType = reflect.TypeFor[time.Duration]()
var rawJSONType = reflect.TypeFor[json.RawMessage]()

// argSpecs reads the schema of an argument struct. Each exported field is
// an argument; the `arg` tag names it (default: the field name in
// snake_case) and may add ",required"; `arg:"-"` leaves the field out; the
// `doc` tag describes it.
func argSpecs(t reflect.Type) ([]argSpec, error) {
	return argSpecsIn(t, map[reflect.Type]bool{})
}

// argSpecsIn is argSpecs with the struct types being visited, to refuse a
// type that contains itself (cty types cannot be recursive).
func argSpecsIn(t reflect.Type, visiting map[reflect.Type]bool) ([]argSpec, error) {
	if visiting[t] {
		return nil, fmt.Errorf("type %s contains itself; use json.RawMessage or any for a recursive argument", t)
	}
	visiting[t] = true
	defer delete(visiting, t)
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("argument type %s is not a struct", t)
	}
	var specs []argSpec
	seen := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("arg")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = snake(f.Name)
		}
		if seen[name] {
			return nil, fmt.Errorf("argument %q is declared twice in %s", name, t)
		}
		seen[name] = true
		ct, err := ctyType(f.Type, visiting)
		if err != nil {
			return nil, fmt.Errorf("argument %q (%s.%s): %w", name, t, f.Name, err)
		}
		specs = append(specs, argSpec{
			Name: name, Doc: f.Tag.Get("doc"), Required: slices.Contains(strings.Split(opts, ","), "required"),
			Type: ct, field: i, duration: f.Type == durationType,
		})
	}
	return specs, nil
}

// ctyType maps a Go type to the type the host checks the jobfile's value against.
func ctyType(t reflect.Type, visiting map[reflect.Type]bool) (cty.Type, error) {
	switch {
	case t == durationType:
		return cty.String, nil
	case t == rawJSONType:
		return cty.DynamicPseudoType, nil
	}
	switch t.Kind() {
	case reflect.String:
		return cty.String, nil
	case reflect.Bool:
		return cty.Bool, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return cty.Number, nil
	case reflect.Interface:
		return cty.DynamicPseudoType, nil
	case reflect.Pointer:
		return ctyType(t.Elem(), visiting)
	case reflect.Slice, reflect.Array:
		et, err := ctyType(t.Elem(), visiting)
		return cty.List(et), err
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return cty.NilType, fmt.Errorf("map keys must be strings, not %s", t.Key())
		}
		et, err := ctyType(t.Elem(), visiting)
		return cty.Map(et), err
	case reflect.Struct:
		specs, err := argSpecsIn(t, visiting)
		if err != nil {
			return cty.NilType, err
		}
		attrs := map[string]cty.Type{}
		var optional []string
		for _, s := range specs {
			attrs[s.Name] = s.Type
			if !s.Required {
				optional = append(optional, s.Name)
			}
		}
		return cty.ObjectWithOptionalAttrs(attrs, optional), nil
	}
	return cty.NilType, fmt.Errorf("type %s cannot be an argument", t)
}

// decodeArgs fills a new value of type t (a struct) from a JSON object.
// Unknown and missing required arguments are errors; a duration is a
// string that time.ParseDuration reads.
func decodeArgs(t reflect.Type, specs []argSpec, data []byte) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	return v, decodeStruct(v, specs, data, "")
}

// decodeStruct fills struct v from a JSON object, by the names in specs.
func decodeStruct(v reflect.Value, specs []argSpec, data []byte, path string) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		if path == "" {
			return fmt.Errorf("arguments are not a JSON object: %w", err)
		}
		return fmt.Errorf("argument %q: want an object: %w", strings.TrimSuffix(path, "."), err)
	}
	byName := map[string]bool{}
	for _, s := range specs {
		byName[s.Name] = true
	}
	for name := range raw {
		if !byName[name] {
			return fmt.Errorf("unknown argument %q (%s takes %s)", path+name, orArguments(path), argNames(specs))
		}
	}
	for _, s := range specs {
		r, ok := raw[s.Name]
		if !ok || string(r) == "null" {
			if s.Required {
				return fmt.Errorf("missing required argument %q", path+s.Name)
			}
			continue
		}
		if err := decodeValue(v.Field(s.field), r, path+s.Name); err != nil {
			return err
		}
	}
	return nil
}

func orArguments(path string) string {
	if path == "" {
		return "this task"
	}
	return strings.TrimSuffix(path, ".")
}

// decodeValue fills v from JSON, naming nested struct fields as argSpecs
// does and reading durations as strings, at any depth.
func decodeValue(v reflect.Value, data json.RawMessage, path string) error {
	t := v.Type()
	switch {
	case t == durationType:
		var str string
		if err := json.Unmarshal(data, &str); err != nil {
			return fmt.Errorf("argument %q: want a duration such as \"30s\": %w", path, err)
		}
		d, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("argument %q: %w", path, err)
		}
		v.SetInt(int64(d))
		return nil
	case t == rawJSONType:
		v.SetBytes(append([]byte(nil), data...))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if string(data) == "null" {
			return nil
		}
		p := reflect.New(t.Elem())
		if err := decodeValue(p.Elem(), data, path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		specs, err := argSpecs(t)
		if err != nil {
			return err
		}
		return decodeStruct(v, specs, data, path+".")
	case reflect.Slice:
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return fmt.Errorf("argument %q: want a list: %w", path, err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			if err := decodeValue(s.Index(i), it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		var items map[string]json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return fmt.Errorf("argument %q: want a map: %w", path, err)
		}
		m := reflect.MakeMapWithSize(t, len(items))
		for k, it := range items {
			e := reflect.New(t.Elem()).Elem()
			if err := decodeValue(e, it, fmt.Sprintf("%s[%q]", path, k)); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(m)
		return nil
	}
	if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
		return fmt.Errorf("argument %q: %w", path, err)
	}
	return nil
}

func argNames(specs []argSpec) string {
	if len(specs) == 0 {
		return "no arguments"
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func typeJSON(t cty.Type) []byte {
	b, err := ctyjson.MarshalType(t)
	if err != nil {
		panic(err) // every type we build marshals
	}
	return b
}

func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
