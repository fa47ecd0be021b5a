// Package proto holds the wire protocol between the host and task packs.
// The generated code is committed; regenerate it with `go generate ./internal/proto`
// (needs protoc, protoc-gen-go, protoc-gen-go-grpc and protoc-gen-go-vtproto
// on PATH; the last with `go install
// github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto@v0.6.0`).
// pack_vtproto.pb.go is marshal and unmarshal code without reflection, used
// by the codec in internal/protocol; its test checks that it covers every
// field of pack.proto.
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative --go-vtproto_out=. --go-vtproto_opt=paths=source_relative,features=marshal+unmarshal+size packv1/pack.proto

// The Python SDK's messages (sdk/python/taskhost/_wire.py), from the Go
// descriptors just generated: see internal/proto/pygen.
//go:generate go run ./pygen -o ../../sdk/python/taskhost/_wire.py
