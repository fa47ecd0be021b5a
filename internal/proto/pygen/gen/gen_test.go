package gen_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/proto/pygen/gen"
)

const wirePy = "../../../../sdk/python/taskhost/_wire.py"

// The committed module is what the generator writes from pack.proto
// today: a change of pack.proto without `make generate` fails here.
func TestCommittedModuleIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := gen.Write(&b); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(wirePy)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("%s is not what pack.proto generates now: run `make generate`", wirePy)
	}
}

// fill sets every field of m, recursively, to a value that is not its
// zero (negative numbers for signed ones, two entries for lists and maps),
// so that a field the Python side drops or misreads changes the bytes.
func fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		switch {
		case f.IsMap():
			mp := m.Mutable(f).Map()
			mp.Set(protoreflect.ValueOfString("a").MapKey(), protoreflect.ValueOfBytes([]byte(`{"x":1}`)))
			mp.Set(protoreflect.ValueOfString("b").MapKey(), protoreflect.ValueOfBytes([]byte("\x00\xff")))
		case f.IsList():
			l := m.Mutable(f).List()
			for j := 0; j < 2; j++ {
				if f.Kind() == protoreflect.MessageKind {
					if depth > 2 {
						break
					}
					e := l.NewElement()
					fill(e.Message(), depth+1)
					l.Append(e)
					continue
				}
				l.Append(value(f, j))
			}
		case f.Kind() == protoreflect.MessageKind:
			if depth > 2 {
				continue
			}
			fill(m.Mutable(f).Message(), depth+1)
		default:
			m.Set(f, value(f, 1))
		}
	}
}

func value(f protoreflect.FieldDescriptor, j int) protoreflect.Value {
	switch f.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string(f.Name()) + " é ✓ " + strings.Repeat("x", 200*j))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0, 1, 0xff, byte(j)})
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(-7 + 9*j))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(-1<<40 + int64(j))
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(1<<63 + uint64(j))
	}
	panic("kind " + f.Kind().String())
}

// Every message, with every field set, goes Go -> Python -> Go unchanged:
// Python reads what Go writes and writes what Go reads.
func TestRoundTripThroughPython(t *testing.T) {
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Skip("no /usr/bin/python3")
	}
	msgs := packv1.File_packv1_pack_proto.Messages()
	var in strings.Builder
	var want []proto.Message
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		mt, err := protoRegistryType(md)
		if err != nil {
			t.Fatal(err)
		}
		m := mt.New()
		fill(m, 0)
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
		if err != nil {
			t.Fatal(err)
		}
		in.WriteString(string(md.Name()) + " " + hex.EncodeToString(b) + "\n")
		want = append(want, m.Interface())
	}
	dir, _ := filepath.Abs(filepath.Dir(filepath.Dir(wirePy)))
	script := `
import sys
sys.path.insert(0, sys.argv[1])
import importlib.util, json
def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if hasattr(v, "__slots__"):
        return {k: plain(getattr(v, k)) for k in v.__slots__}
    return v
spec = importlib.util.spec_from_file_location("_wire", sys.argv[1] + "/taskhost/_wire.py")
w = importlib.util.module_from_spec(spec)
spec.loader.exec_module(w)
for line in sys.stdin:
    name, _, data = line.rstrip("\n").partition(" ")
    m = getattr(w, name).decode(bytes.fromhex(data))
    print(name, m.encode().hex(), json.dumps(plain(m), sort_keys=True, separators=(",", ":"), ensure_ascii=False))
`
	cmd := exec.Command(py, "-c", script, dir)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("python answered %d messages, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		name, rest, _ := strings.Cut(line, " ")
		data, values, _ := strings.Cut(rest, " ")
		wantValues, _ := json.Marshal(plain(want[i].ProtoReflect()))
		if values != string(wantValues) {
			t.Errorf("%s: Python reads other values than Go wrote:\n got %s\nwant %s", name, values, wantValues)
		}
		b, err := hex.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		got := want[i].ProtoReflect().New().Interface()
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatalf("%s: Go cannot read what Python wrote: %v", name, err)
		}
		if !proto.Equal(got, want[i]) {
			t.Errorf("%s changed through Python:\n got %v\nwant %v", name, got, want[i])
		}
	}
}

// plain is m's fields as Python's test prints them: every field by its
// name, zero or not; bytes as hex; messages as objects (null when unset).
func plain(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		v := m.Get(f)
		switch {
		case f.IsMap():
			mp := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				mp[k.String()] = hex.EncodeToString(v.Bytes())
				return true
			})
			out[string(f.Name())] = mp
		case f.IsList():
			l := []any{}
			for j := 0; j < v.List().Len(); j++ {
				l = append(l, scalar(f, v.List().Get(j)))
			}
			out[string(f.Name())] = l
		case f.Kind() == protoreflect.MessageKind && !m.Has(f):
			out[string(f.Name())] = nil
		default:
			out[string(f.Name())] = scalar(f, v)
		}
	}
	return out
}

func scalar(f protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch f.Kind() {
	case protoreflect.MessageKind:
		return plain(v.Message())
	case protoreflect.BytesKind:
		return hex.EncodeToString(v.Bytes())
	}
	return v.Interface()
}

func protoRegistryType(md protoreflect.MessageDescriptor) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(md.FullName())
}
