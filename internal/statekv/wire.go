package statekv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// The state protocol: what a task process and the host's state server say
// to each other over the run's state socket (a Unix socket in the run's
// private socket directory). Each message is a frame: a 4-byte big-endian
// length, then the message. A client sends a Request and reads one
// Response, on one connection at a time; the first request on a
// connection is OpHello, with the task's token. A Watch request turns the
// connection into a stream of StatusChange responses.

// Op is what a request asks for.
type Op byte

// The operations.
const (
	OpHello   Op = 'h' // Key: the task's token; Holder: the writer's name
	OpGet     Op = 'g'
	OpPut     Op = 'p'
	OpCreate  Op = 'c'
	OpSwap    Op = 's' // Rev: the revision the key must be at
	OpDelete  Op = 'd'
	OpKeys    Op = 'k' // Key: the prefix
	OpAdd     Op = 'a' // Delta
	OpLock    Op = 'l' // Key: the lock's name; Holder; Dur: the lease
	OpRenew   Op = 'r' // as OpLock
	OpUnlock  Op = 'u' // Key, Holder
	OpBarrier Op = 'b' // Key: the barrier's name; Holder: the participant; N
	OpWatch   Op = 'w' // Key: the prefix; Rev: the last revision seen (0: from now)
)

// Status is a response's kind.
type Status byte

// The statuses.
const (
	StatusOK         Status = 'o'
	StatusNotFound   Status = 'n'
	StatusExists     Status = 'e'
	StatusConflict   Status = 'c' // Rev: the key's revision now
	StatusNotCounter Status = 'i'
	StatusNotHolder  Status = 'h'
	StatusBarrier    Status = 'b' // Msg says how the barrier was misused
	StatusWait       Status = 'w' // a lock still held, a barrier not released yet: ask again
	StatusInvalid    Status = 'v' // Msg says what is wrong with the request
	StatusDenied     Status = 'x' // a bad token
	StatusChange     Status = 'g' // a change, on a watching connection
	StatusGap        Status = 'p' // the changes after Rev are no longer kept
)

// Request is one request of a client.
type Request struct {
	Op Op
	// ID numbers a writing request among its writer's (the client's)
	// requests; a request sent again after a lost answer has the same
	// ID, and the server answers it from its record instead of applying
	// it twice. 0 for reads.
	ID     uint64
	Key    string
	Value  []byte // JSON
	Rev    uint64
	Delta  int64
	N      uint64
	Dur    time.Duration
	Holder string
}

// Response is the server's answer to a Request, or one change of a watch.
type Response struct {
	Status Status
	Rev    uint64
	N      int64 // Add's new value
	Key    string
	Value  []byte // a value (Get, a change), or keys joined by '\n' (Keys)
	Msg    string
}

// FullPrefix begins the message of a write refused (StatusInvalid)
// because the run's shared state would go over its limit.
const FullPrefix = "the shared state is full: "

// IsFull reports whether p refuses a write because the state is full.
func IsFull(p Response) bool {
	return p.Status == StatusInvalid && strings.HasPrefix(p.Msg, FullPrefix)
}

// MaxFrame is the largest frame either side sends or takes: a value of
// MaxValueBytes and a key, with room to spare.
const MaxFrame = MaxValueBytes + 64<<10

// MaxWait is how long the server holds a Lock or Barrier request before it
// answers StatusWait, so that a client notices a lost connection or its
// own end in time.
const MaxWait = time.Second

type writer struct {
	b   []byte
	err error
}

func (w *writer) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *writer) bytes(p []byte)   { w.uvarint(uint64(len(p))); w.b = append(w.b, p...) }
func (w *writer) str(s string)     { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("state protocol: malformed message")
	}
	r.b = nil
}

// AppendRequest appends q's frame to b.
func AppendRequest(b []byte, q *Request) []byte {
	w := writer{b: append(b, 0, 0, 0, 0)}
	w.b = append(w.b, byte(q.Op))
	w.uvarint(q.ID)
	w.str(q.Key)
	w.bytes(q.Value)
	w.uvarint(q.Rev)
	w.varint(q.Delta)
	w.uvarint(q.N)
	w.varint(int64(q.Dur))
	w.str(q.Holder)
	binary.BigEndian.PutUint32(w.b[len(b):], uint32(len(w.b)-len(b)-4))
	return w.b
}

// DecodeRequest decodes a frame's message. The request's Value shares
// memory with msg.
func DecodeRequest(msg []byte) (Request, error) {
	r := reader{b: msg}
	q := Request{Op: Op(r.byte()), ID: r.uvarint()}
	q.Key = string(r.bytes())
	q.Value = r.bytes()
	q.Rev = r.uvarint()
	q.Delta = r.varint()
	q.N = r.uvarint()
	q.Dur = time.Duration(r.varint())
	q.Holder = string(r.bytes())
	return q, r.err
}

// AppendResponse appends p's frame to b.
func AppendResponse(b []byte, p *Response) []byte {
	w := writer{b: append(b, 0, 0, 0, 0)}
	w.b = append(w.b, byte(p.Status))
	w.uvarint(p.Rev)
	w.varint(p.N)
	w.str(p.Key)
	w.bytes(p.Value)
	w.str(p.Msg)
	binary.BigEndian.PutUint32(w.b[len(b):], uint32(len(w.b)-len(b)-4))
	return w.b
}

// DecodeResponse decodes a frame's message. The response's Value shares
// memory with msg.
func DecodeResponse(msg []byte) (Response, error) {
	r := reader{b: msg}
	p := Response{Status: Status(r.byte()), Rev: r.uvarint(), N: r.varint()}
	p.Key = string(r.bytes())
	p.Value = r.bytes()
	p.Msg = string(r.bytes())
	return p, r.err
}

// ReadFrame reads one frame's message into buf (grown as needed) and
// returns it.
func ReadFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("state protocol: a frame of %d bytes, over the limit of %d", n, MaxFrame)
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return buf, err
}

// keyRe is what the store allows in a key: dot-separated tokens of
// letters, digits, '-', '_', '=' and '/'.
var keyRe = regexp.MustCompile(`^[-/_=A-Za-z0-9]+(\.[-/_=A-Za-z0-9]+)*$`)

// ValidKey reports whether key has only what the store allows in a key.
func ValidKey(key string) bool { return keyRe.MatchString(key) }

// CheckKey says what is wrong with a key a task gives, if anything.
func CheckKey(key string) string {
	if !ValidKey(key) {
		return fmt.Sprintf("%q: use dot-separated tokens of letters, digits, '-', '_', '=' and '/'", key)
	}
	if strings.HasPrefix(key, Reserved) {
		return fmt.Sprintf("%q: keys starting with %q are the store's own", key, Reserved)
	}
	return ""
}

// LockKey and BarrierKey are the keys that hold a lock's and a barrier's
// record.
func LockKey(name string) string    { return Reserved + "lock." + name }
func BarrierKey(name string) string { return Reserved + "barrier." + name }

// Visible reports whether a watch or listing of prefix shows key: the
// store's own keys only to a prefix that names them.
func Visible(key, prefix string) bool {
	return strings.HasPrefix(key, prefix) && (!strings.HasPrefix(key, Reserved) || strings.HasPrefix(prefix, Reserved))
}
