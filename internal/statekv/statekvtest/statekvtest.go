// Package statekvtest speaks the state protocol (internal/statekv) on one
// connection, as the SDK does, for the tests of the state server and of
// the hub that composes it.
package statekvtest

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/statekv"
)

// Client is one connection to a state server. C and R are its
// connection and the reader of its answers, for tests that write raw
// frames or watch it close.
type Client struct {
	T testing.TB
	C net.Conn
	R *bufio.Reader
}

// Dial connects to the server at socket and says hello with token, for
// writer; it returns the client and the answer to the hello. The
// connection is closed when the test ends.
func Dial(t testing.TB, socket, token, writer string) (*Client, statekv.Response) {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc := &Client{T: t, C: c, R: bufio.NewReader(c)}
	return sc, sc.Do(statekv.Request{Op: statekv.OpHello, Key: token, Holder: writer})
}

// Send sends a request.
func (sc *Client) Send(q statekv.Request) {
	sc.T.Helper()
	if _, err := sc.C.Write(statekv.AppendRequest(nil, &q)); err != nil {
		sc.T.Fatal(err)
	}
}

// Read reads the next answer (within 30 s).
func (sc *Client) Read() statekv.Response {
	sc.T.Helper()
	_ = sc.C.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := statekv.ReadFrame(sc.R, nil)
	if err != nil {
		sc.T.Fatal(err)
	}
	p, err := statekv.DecodeResponse(msg)
	if err != nil {
		sc.T.Fatal(err)
	}
	return p
}

// Do sends a request and reads its answer.
func (sc *Client) Do(q statekv.Request) statekv.Response {
	sc.T.Helper()
	sc.Send(q)
	return sc.Read()
}
