package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGenerated: the committed table is what the generator writes from
// the hpack package this module builds with (run `make generate` when it
// is not).
func TestGenerated(t *testing.T) {
	got, err := os.ReadFile("../../taskhost/_huffman.py")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, generate()) {
		t.Error("sdk/python/taskhost/_huffman.py differs from what huffgen writes: run make generate")
	}
}
