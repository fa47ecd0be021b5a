// Package proto holds the wire protocol between the host and task packs.
// The generated code is committed; regenerate it with `go generate ./internal/proto`
// (needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH).
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative packv1/pack.proto
