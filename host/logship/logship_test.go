package logship_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/logship"
)

// rig is a run's hub with a Sink on it, and the agents a test admits.
type rig struct {
	t      *testing.T
	hub    *hub.Hub
	sink   *logship.Sink
	runDir string
	names  agentwire.Names
}

func newRig(t *testing.T) *rig {
	t.Helper()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	runDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := logship.NewSink(ctx, logship.SinkConfig{Conn: h.Conn(), RunKey: h.RunKey(), RunDir: runDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &rig{t: t, hub: h, sink: s, runDir: runDir, names: agentwire.Names{RunKey: h.RunKey()}}
}

// agent admits the agent name and returns its connection to the hub.
func (r *rig) agent(name string) *nats.Conn {
	r.t.Helper()
	token, err := r.hub.AddAgent(name, []string{"any"})
	if err != nil {
		r.t.Fatal(err)
	}
	nc, err := nats.Connect(r.hub.URL(), nats.Token(token), nats.CustomInboxPrefix(r.names.Inbox(name)))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	return nc
}

// ship starts a shipper of agent's slot n from dir.
func (r *rig) ship(ctx context.Context, nc *nats.Conn, agent string, n int, dir string) *logship.Shipper {
	r.t.Helper()
	s, err := logship.Ship(ctx, logship.ShipperConfig{Conn: nc, RunKey: r.hub.RunKey(), Agent: agent, Slot: n, Dir: dir,
		ChunkBytes: 4 << 10, Poll: 20 * time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(s.Stop)
	return s
}

// sync waits until the sink wrote everything the stream holds.
func (r *rig) sync() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.sink.Sync(ctx); err != nil {
		r.t.Fatal(err)
	}
}

// waitFor waits until the host's copy of file in dir holds want (or
// more), and returns the copy.
func (r *rig) waitFor(dir, file string, want []byte) []byte {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.sync()
		got, _ := os.ReadFile(filepath.Join(r.runDir, dir, file))
		if len(got) >= len(want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func finish(t *testing.T, s *logship.Shipper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Finish(ctx); err != nil {
		t.Fatal(err)
	}
}

// A file written in several bursts, some of them many chunks long,
// arrives byte for byte; the last burst, written just before Finish,
// with it.
func TestBurstsArriveIdentical(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	nc := r.agent("a1")
	if err := r.sink.Allow("a1", 1, "tasks/t1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := r.ship(context.Background(), nc, "a1", 1, dir)
	var want []byte
	for i, n := range []int{10, 4 << 10, 1, 100 << 10, 3} {
		b := randomBytes(n)
		appendFile(t, filepath.Join(dir, "task.log"), b)
		want = append(want, b...)
		if got := r.waitFor("tasks/t1", "task.log", want); !bytes.Equal(got, want) {
			t.Fatalf("after burst %d: the host has %d bytes, want the %d written (equal: %v)", i, len(got), len(want), bytes.Equal(got, want[:min(len(got), len(want))]))
		}
	}
	last := randomBytes(50 << 10)
	appendFile(t, filepath.Join(dir, "task.log"), last)
	want = append(want, last...)
	finish(t, s)
	r.sync()
	got, err := os.ReadFile(filepath.Join(r.runDir, "tasks/t1/task.log"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after Finish: the host has %d bytes (%v), want the %d written", len(got), err, len(want))
	}
	if n := r.sink.Refused(); n != 0 {
		t.Errorf("%d chunks refused", n)
	}
}

// A file that appears while the task runs (a child's pid-<pid>.log) is
// shipped too; a link in the directory is not followed.
func TestNewFileArrives(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	nc := r.agent("a1")
	if err := r.sink.Allow("a1", 2, "tasks/t2"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("not a log"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := r.ship(context.Background(), nc, "a1", 2, dir)
	task := []byte("task line\n")
	appendFile(t, filepath.Join(dir, "task.log"), task)
	if got := r.waitFor("tasks/t2", "task.log", task); !bytes.Equal(got, task) {
		t.Fatalf("task.log: %q", got)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	child := randomBytes(9 << 10)
	appendFile(t, filepath.Join(dir, "pid-4242.log"), child)
	if got := r.waitFor("tasks/t2", "pid-4242.log", child); !bytes.Equal(got, child) {
		t.Fatalf("pid-4242.log: %d bytes on the host, want the %d written", len(got), len(child))
	}
	finish(t, s)
	r.sync()
	entries, err := os.ReadDir(filepath.Join(r.runDir, "tasks/t2"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"pid-4242.log", "task.log"}) {
		t.Errorf("the host's directory holds %v, want pid-4242.log and task.log", names)
	}
}

// publish publishes a chunk on subject as an agent's shipper would, with
// the message id given ("" for the shipper's), and returns whether the
// stream took it as a duplicate.
func (r *rig) publish(js jetstream.JetStream, subject, file string, off int64, data []byte, id string) bool {
	r.t.Helper()
	if id == "" {
		_, slot, _ := r.names.LogOf(subject)
		id = agentwire.LogMsgID(slot, file, off, len(data))
	}
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	m.Header.Set(agentwire.LogFileHeader, file)
	m.Header.Set(agentwire.LogOffsetHeader, strconv.FormatInt(off, 10))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(id))
	if err != nil {
		r.t.Fatalf("publish %s at %d: %v", file, off, err)
	}
	return ack.Duplicate
}

// Chunks that come twice, under the same id or another, and out of
// order, still make the file as written: each lands on its own bytes.
func TestRepeatsAndDisorder(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	nc := r.agent("a1")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.sink.Allow("a1", 3, "tasks/t3"); err != nil {
		t.Fatal(err)
	}
	want := []byte("0123456789abcdefghij")
	subject := r.names.Log("a1", 3)
	// The end first, then the start twice under one id, then the middle,
	// then a longer chunk over what is there already (under its own id).
	r.publish(js, subject, "task.log", 15, want[15:], "")
	r.publish(js, subject, "task.log", 0, want[:5], "")
	if dup := r.publish(js, subject, "task.log", 0, want[:5], ""); !dup {
		t.Error("a chunk sent again under its id was not taken as a duplicate")
	}
	r.publish(js, subject, "task.log", 5, want[5:15], "")
	r.publish(js, subject, "task.log", 3, want[3:12], "")
	r.sync()
	got, err := os.ReadFile(filepath.Join(r.runDir, "tasks/t3/task.log"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the host has %q (%v), want %q", got, err, want)
	}
	if n := r.sink.Refused(); n != 0 {
		t.Errorf("%d chunks refused", n)
	}
}

// A file name that is not a plain name, a slot the sink was not told
// of, and a slot that another agent runs are all refused, and nothing is
// written for them.
func TestHostileChunksRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	a1, a2 := r.agent("a1"), r.agent("a2")
	js1, err := jetstream.New(a1)
	if err != nil {
		t.Fatal(err)
	}
	js2, err := jetstream.New(a2)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.sink.Allow("a1", 4, "tasks/t4"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.runDir, "job.log"), []byte("the host's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	own := r.names.Log("a1", 4)
	data := []byte("overwritten\n")
	refused := 0
	for _, name := range []string{"../../job.log", "../t5/task.log", "a/b.log", "..", ".", "", `a\b`, "x..log", "nul\x00.log"} {
		r.publish(js1, own, name, 0, data, "bad."+name)
		refused++
	}
	r.publish(js2, r.names.Log("a2", 4), "task.log", 0, data, "") // a1's slot, from a2
	r.publish(js1, r.names.Log("a1", 5), "task.log", 0, data, "") // a slot no one was told of
	refused += 2
	r.publish(js1, own, "task.log", 0, []byte("ok\n"), "") // and one good one
	r.sync()
	if n := r.sink.Refused(); n != refused {
		t.Errorf("%d chunks refused, want %d", n, refused)
	}
	var files []string
	err = filepath.WalkDir(r.runDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(r.runDir, path)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"job.log", "tasks/t4/task.log"}) {
		t.Errorf("the run directory holds %v, want job.log and tasks/t4/task.log", files)
	}
	if b, _ := os.ReadFile(filepath.Join(r.runDir, "job.log")); string(b) != "the host's\n" {
		t.Errorf("job.log is %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(r.runDir, "tasks/t4/task.log")); string(b) != "ok\n" {
		t.Errorf("task.log is %q, want the good chunk's", b)
	}
}

// A shipper killed as an agent dies (its context cancelled, its
// connection closed) loses at most what the file gained since its last
// poll: what it had seen is on the host, and what is there is what was
// written.
func TestKilledShipperLosesAtMostItsLastPoll(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	nc := r.agent("a1")
	if err := r.sink.Allow("a1", 6, "tasks/t6"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.ship(ctx, nc, "a1", 6, dir)
	path := filepath.Join(dir, "task.log")
	seen := randomBytes(30 << 10)
	appendFile(t, path, seen)
	if got := r.waitFor("tasks/t6", "task.log", seen); !bytes.Equal(got, seen) {
		t.Fatalf("before the kill: the host has %d bytes, want the %d written", len(got), len(seen))
	}
	last := randomBytes(30 << 10)
	appendFile(t, path, last)
	cancel()
	nc.Close()
	r.sync()
	got, err := os.ReadFile(filepath.Join(r.runDir, "tasks/t6/task.log"))
	if err != nil {
		t.Fatal(err)
	}
	written := append(seen, last...)
	if len(got) < len(seen) || !bytes.Equal(got, written[:min(len(got), len(written))]) {
		t.Fatalf("after the kill: the host has %d bytes, which are not the first of the %d written, %d of them seen before the kill",
			len(got), len(written), len(seen))
	}
}

// Finish returns an error, rather than wait for ever, when the chunks
// cannot be acknowledged (the stream is gone): a chunk whose publish
// failed is not counted as shipped.
func TestFinishIsBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	nc := r.agent("a1")
	if err := r.sink.Allow("a1", 7, "tasks/t7"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := r.ship(context.Background(), nc, "a1", 7, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(r.hub.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, r.names.LogStream()); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "task.log"), []byte("never shipped\n"))
	fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer fcancel()
	err = s.Finish(fctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Finish: %v, want the deadline's error", err)
	}
}

// A retry's shipper starts each file where the host's copy ends (From):
// what the earlier attempt left on the host stays, the new bytes land
// after it, Acked says where each file is acknowledged up to, and Await
// returns once the host has that; an end the host does not have is an
// error that says which file is short.
func TestFromKeepsTheEarlierAttempts(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	nc := r.agent("a1")
	earlier := randomBytes(10 << 10)
	if err := os.MkdirAll(filepath.Join(r.runDir, "tasks/t8"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.runDir, "tasks/t8/task.log"), earlier, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.sink.Allow("a1", 8, "tasks/t8"); err != nil {
		t.Fatal(err)
	}
	// The agent's copy: as long as the host's, its bytes zero (sparse).
	dir := t.TempDir()
	path := filepath.Join(dir, "task.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(len(earlier))); err != nil {
		t.Fatal(err)
	}
	later := randomBytes(100 << 10)
	appendFile(t, path, later)
	s, err := logship.Ship(context.Background(), logship.ShipperConfig{Conn: nc, RunKey: r.hub.RunKey(), Agent: "a1", Slot: 8, Dir: dir,
		From: map[string]int64{"task.log": int64(len(earlier))}, ChunkBytes: 4 << 10, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	acked := s.Acked()
	want := int64(len(earlier) + len(later))
	if acked["task.log"] != want {
		t.Fatalf("acked %v, want task.log at %d", acked, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.sink.Await(ctx, 8, acked); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(r.runDir, "tasks/t8/task.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(slices.Clone(earlier), later...)) {
		t.Fatalf("the host has %d bytes, want the earlier attempt's %d then the %d shipped", len(got), len(earlier), len(later))
	}
	err = r.sink.Await(ctx, 8, map[string]int64{"task.log": want + 1})
	if err == nil || !strings.Contains(err.Error(), "tasks/t8/task.log has "+strconv.FormatInt(want, 10)) {
		t.Fatalf("Await past what was shipped: %v, want the short file named", err)
	}
}
