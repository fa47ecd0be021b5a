package wire

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/taskhost/taskhost/internal/proto/packv1"
)

// fill sets every field of m (recursively, two entries in each list and
// map) to a value that differs from field to field, so that a field the
// generated code forgets shows up as a difference.
func fill(m protoreflect.Message, depth int) {
	n := 0
	val := func(fd protoreflect.FieldDescriptor, parent protoreflect.Message) protoreflect.Value {
		n++
		switch fd.Kind() {
		case protoreflect.StringKind:
			return protoreflect.ValueOfString(fmt.Sprintf("%s-%d-ü", fd.Name(), n))
		case protoreflect.BytesKind:
			return protoreflect.ValueOfBytes([]byte(fmt.Sprintf(`{"%s":%d}`, fd.Name(), n)))
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(true)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(int32(-n - 1000))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(int64(-n) << 40)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return protoreflect.ValueOfUint32(uint32(n + 300))
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return protoreflect.ValueOfUint64(uint64(n) << 40)
		case protoreflect.DoubleKind:
			return protoreflect.ValueOfFloat64(float64(n) + 0.5)
		case protoreflect.FloatKind:
			return protoreflect.ValueOfFloat32(float32(n) + 0.25)
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(1)
		case protoreflect.MessageKind:
			var sub protoreflect.Message
			switch {
			case fd.IsMap():
				sub = parent.NewField(fd).Map().NewValue().Message()
			case fd.IsList():
				sub = parent.NewField(fd).List().NewElement().Message()
			default:
				sub = parent.NewField(fd).Message()
			}
			if depth < 3 {
				fill(sub, depth+1)
			}
			return protoreflect.ValueOfMessage(sub)
		}
		panic(fmt.Sprintf("field %s: kind %s not handled", fd.FullName(), fd.Kind()))
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for j := range 2 {
				var k protoreflect.MapKey
				if fd.MapKey().Kind() == protoreflect.StringKind {
					k = protoreflect.ValueOfString(fmt.Sprintf("k%d", j)).MapKey()
				} else {
					k = protoreflect.ValueOfInt64(int64(j)).MapKey()
				}
				mp.Set(k, val(fd.MapValue(), m))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				l.Append(val(fd, m))
			}
		default:
			m.Set(fd, val(fd, m))
		}
	}
}

// Every message of the pack protocol encodes and decodes the same through
// the generated code as through protobuf's own: no field is forgotten
// (for example when pack.proto gained a field and only pack.pb.go was
// regenerated).
func TestGeneratedCodeCoversEveryField(t *testing.T) {
	fd := packv1.File_packv1_pack_proto
	msgs := fd.Messages()
	if msgs.Len() < 10 {
		t.Fatalf("only %d messages in %s", msgs.Len(), fd.Path())
	}
	for i := range msgs.Len() {
		md := msgs.Get(i)
		t.Run(string(md.Name()), func(t *testing.T) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
			if err != nil {
				t.Fatal(err)
			}
			orig := mt.New()
			fill(orig, 0)
			if md.Fields().Len() > 0 && proto.Size(orig.Interface()) == 0 {
				t.Fatal("fill set nothing")
			}
			vt, ok := orig.Interface().(VTMessage)
			if !ok {
				t.Fatalf("%s has no generated marshal code: regenerate with go generate ./internal/proto", md.Name())
			}
			// Generated marshal, protobuf unmarshal.
			b, err := vt.MarshalVT()
			if err != nil {
				t.Fatal(err)
			}
			back := mt.New().Interface()
			if err := proto.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(orig.Interface(), back) {
				t.Errorf("generated marshal lost something:\nwant %v\ngot  %v", orig.Interface(), back)
			}
			// Protobuf marshal, generated unmarshal.
			b, err = proto.Marshal(orig.Interface())
			if err != nil {
				t.Fatal(err)
			}
			back = mt.New().Interface()
			if err := back.(VTMessage).UnmarshalVT(b); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(orig.Interface(), back) {
				t.Errorf("generated unmarshal lost something:\nwant %v\ngot  %v", orig.Interface(), back)
			}
		})
	}
}

// gRPC's "proto" codec in this process is ours: the pack protocol's
// messages go through the generated code, and the bytes are protobuf's;
// any other message goes through gRPC's own codec.
func TestCodecIsRegistered(t *testing.T) {
	c := encoding.GetCodecV2("proto")
	if _, ok := c.(codec); !ok {
		t.Fatalf("gRPC's proto codec is %T, not this package's", c)
	}
	req := &packv1.RunRequest{Task: "ping", ArgsJson: []byte(`{"host":"r1"}`), Hub: &packv1.Hub{Url: "nats://127.0.0.1:1", Token: "t"}}
	data, err := c.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(req)
	if got := data.Materialize(); string(got) != string(want) {
		t.Errorf("codec bytes differ from protobuf's:\n%x\n%x", got, want)
	}
	var back packv1.RunRequest
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(want)}, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, &back) {
		t.Errorf("round trip: %v, want %v", &back, req)
	}

	// A message without generated code (a well-known type here) takes
	// gRPC's own path.
	other, _ := structpb.NewStruct(map[string]any{"a": "b"})
	data, err = c.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	var otherBack structpb.Struct
	if err := c.Unmarshal(data, &otherBack); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(other, &otherBack) {
		t.Errorf("fallback round trip: %v, want %v", &otherBack, other)
	}
}
