// Command pygen writes the pack protocol's messages as a Python module of
// the standard library only (sdk/python/taskhost/_wire.py), from the
// descriptors protoc compiled into packv1: the Python SDK then reads and
// writes the same bytes as the Go side without importing protobuf, whose
// import alone costs a Python task process more than twice the
// interpreter's start (docs/design.md).
//
//	go run ./pygen -o ../../sdk/python/taskhost/_wire.py
//
// It knows the field kinds pack.proto uses (string, bytes, bool, int32,
// int64, uint64, messages, repeated ones, a map of string to bytes) and
// fails on any other, so that a new kind is added here before it is used.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/taskhost/taskhost/internal/proto/pygen/gen"
)

func main() {
	out := flag.String("o", "", "the file to write (stdout when empty)")
	flag.Parse()
	var b bytes.Buffer
	if err := gen.Write(&b); err != nil {
		fmt.Fprintln(os.Stderr, "pygen:", err)
		os.Exit(1)
	}
	if *out == "" {
		os.Stdout.Write(b.Bytes())
		return
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "pygen:", err)
		os.Exit(1)
	}
}
