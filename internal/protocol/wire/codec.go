package wire

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto" // registers gRPC's own "proto" codec first: ours wraps it
	"google.golang.org/grpc/mem"
)

// The pack protocol's messages carry generated marshal and unmarshal code
// (vtprotobuf, pack_vtproto.pb.go) beside the usual protobuf code. Both
// write the same bytes; the generated code needs no reflection, so a
// pack process, which lives for one task, does not pay protobuf's lazy
// set-up of the message types on its first call (about a tenth of what a
// trivial task costs a pack beyond starting the binary; see
// docs/performance.md).
//
// The codec below replaces gRPC's "proto" codec in every process that
// imports this package (the host and every pack): the pack protocol's
// messages go through the generated code, every other message (go-plugin's
// own services, anything else a pack serves) through gRPC's codec as
// before. The name, and so the content type on the wire, stays "proto":
// a host and a pack built without this codec still understand each other.

// VTMessage is a message with generated marshal and unmarshal code.
type VTMessage interface {
	MarshalVT() ([]byte, error)
	UnmarshalVT([]byte) error
}

func init() {
	encoding.RegisterCodecV2(codec{fallback: encoding.GetCodecV2(grpcproto.Name)})
}

type codec struct{ fallback encoding.CodecV2 }

func (c codec) Name() string { return grpcproto.Name }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(VTMessage)
	if !ok {
		return c.fallback.Marshal(v)
	}
	b, err := m.MarshalVT()
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(VTMessage)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	// UnmarshalVT copies what it keeps (strings and bytes), so the
	// buffer can go back to the pool.
	return m.UnmarshalVT(buf.ReadOnlyData())
}
