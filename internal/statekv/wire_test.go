package statekv

import (
	"bufio"
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFramesRoundTrip: every field of a request and a response comes back
// as it was sent, through a stream of frames.
func TestFramesRoundTrip(t *testing.T) {
	q := Request{Op: OpSwap, ID: 1 << 40, Key: "a.b", Value: []byte(`{"x":1}`), Rev: 77,
		Delta: -5, N: 3, Dur: 1500 * time.Millisecond, Holder: "12/ab#4"}
	p := Response{Status: StatusConflict, Rev: 99, N: -1 << 50, Key: "k", Value: []byte("v"), Msg: "why"}
	var stream []byte
	stream = AppendRequest(stream, &q)
	stream = AppendResponse(stream, &p)
	stream = AppendRequest(stream, &Request{Op: OpGet, Key: "k"})
	r := bufio.NewReader(bytes.NewReader(stream))

	msg, err := ReadFrame(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeRequest(msg); err != nil || !reflect.DeepEqual(got, q) {
		t.Errorf("request: %+v (%v), want %+v", got, err, q)
	}
	if msg, err = ReadFrame(r, msg); err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeResponse(msg); err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("response: %+v (%v), want %+v", got, err, p)
	}
	if msg, err = ReadFrame(r, msg); err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeRequest(msg); err != nil || got.Op != OpGet || got.Key != "k" || got.Value != nil {
		t.Errorf("short request: %+v (%v)", got, err)
	}
}

// TestMalformedFrames: a truncated message, and a frame over the limit,
// are errors, not panics.
func TestMalformedFrames(t *testing.T) {
	full := AppendRequest(nil, &Request{Op: OpPut, ID: 9, Key: "key", Value: []byte("123")})
	for n := 5; n < len(full)-1; n++ {
		if _, err := DecodeRequest(full[4:n]); err == nil {
			t.Errorf("request cut to %d bytes decoded", n-4)
		}
	}
	big := []byte{0xff, 0xff, 0xff, 0xff}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(big)), nil); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("a 4 GiB frame: %v", err)
	}
}

func TestCheckKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"a": true, "status.r1": true, "vlan/10": true, "run=2.result": true,
		"": false, "a b": false, ".a": false, "a.": false, "a..b": false, "_lock.m": false,
	} {
		if got := CheckKey(key) == ""; got != ok {
			t.Errorf("CheckKey(%q) ok = %v, want %v", key, got, ok)
		}
	}
}
