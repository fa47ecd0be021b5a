package packstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/packstore"
	"github.com/taskhost/taskhost/internal/testbuild"
)

// testpack is internal/testpack built for this machine, once for the
// package, and sum its hex SHA-256.
var testpack, sum string

func TestMain(m *testing.M) {
	testbuild.Main(m, map[*string]string{&testpack: "../../internal/testpack"}, func(string) (err error) {
		sum, err = launch.HexSHA256(testpack)
		return err
	})
}

// newStore starts a hub and makes the packs' store on it; obs is the
// same bucket, for a test to put what it likes.
func newStore(t *testing.T) (*packstore.Store, jetstream.ObjectStore) {
	t.Helper()
	h, err := hub.Start(hub.Config{StoreDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ctx := testCtx(t)
	s, err := packstore.Create(ctx, h.Conn(), 0)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(h.Conn())
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(ctx, packstore.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	return s, obs
}

// cacheDir is a cache directory for a test, not made yet.
func cacheDir(t *testing.T) string { return filepath.Join(t.TempDir(), "cache") }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestPutOnce: a binary is uploaded by the first put only; a later put
// finds it and leaves the object as it was.
func TestPutOnce(t *testing.T) {
	s, obs := newStore(t)
	ctx := testCtx(t)
	up, err := s.Put(ctx, sum, testpack)
	if err != nil || !up {
		t.Fatalf("first put: uploaded %v, %v; want an upload", up, err)
	}
	first, err := obs.GetInfo(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	up, err = s.Put(ctx, sum, testpack)
	if err != nil || up {
		t.Fatalf("second put: uploaded %v, %v; want no upload", up, err)
	}
	again, err := obs.GetInfo(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	if again.NUID != first.NUID || !again.ModTime.Equal(first.ModTime) {
		t.Errorf("the second put rewrote the object: NUID %s at %v, was %s at %v", again.NUID, again.ModTime, first.NUID, first.ModTime)
	}
}

// TestPutLarge: binaries much larger than what the hub holds for a
// stream before it stores it (4 MiB) are put, and
// one of them comes back whole.
func TestPutLarge(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	var last, lastSum string
	for i := range 3 {
		b := make([]byte, 32<<20)
		rand.Read(b)
		last = filepath.Join(t.TempDir(), fmt.Sprint("big", i))
		if err := os.WriteFile(last, b, 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		if lastSum, err = launch.HexSHA256(last); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, lastSum, last); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	c := &packstore.Cache{Dir: cacheDir(t), Store: s}
	// Random bytes are no executable: the fetch ends at the platform check.
	if _, err := c.Path(ctx, lastSum); !errors.Is(err, packstore.ErrUnknownFormat) {
		t.Fatalf("fetch: %v; want it fetched whole, then refused as no executable", err)
	}
	if got, err := launch.HexSHA256(filepath.Join(c.Dir, lastSum)); err != nil || got != lastSum {
		t.Errorf("fetched %s (%v), want %s", got, err, lastSum)
	}
}

// TestPutChanged: a file that does not have the hash it is put under
// (it changed since it was hashed) is refused and not left in the store.
func TestPutChanged(t *testing.T) {
	s, obs := newStore(t)
	ctx := testCtx(t)
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte("another binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := s.Put(ctx, sum, other)
	if !errors.Is(err, packstore.ErrHashMismatch) || !strings.Contains(err.Error(), sum) {
		t.Fatalf("put of other bytes under the testpack's hash: %v; want ErrHashMismatch naming %s", err, sum)
	}
	if _, err := obs.GetInfo(ctx, sum); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("the refused object is in the store: %v", err)
	}
	if _, err := s.Put(ctx, "not-a-hash", testpack); err == nil {
		t.Error("a put under a name that is not a SHA-256 succeeded")
	}
}

// TestFetch: a binary is fetched into an empty cache (0700), kept as
// <hex> (0500) with no temporary file left, and served from the cache
// later with no store at all; two fetches at once of the same binary
// both get it; a cache directory others may enter is refused.
func TestFetch(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	if _, err := s.Put(ctx, sum, testpack); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cache")
	c := &packstore.Cache{Dir: dir, Store: s}
	paths := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = c.Path(ctx, sum)
		}()
	}
	wg.Wait()
	want := filepath.Join(dir, sum)
	for i := range paths {
		if errs[i] != nil || paths[i] != want {
			t.Fatalf("fetch %d: %q, %v; want %q", i, paths[i], errs[i], want)
		}
	}
	if got, err := launch.HexSHA256(want); err != nil || got != sum {
		t.Fatalf("the fetched binary has SHA-256 %s (%v), want %s", got, err, sum)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, want: 0o500} {
		if st, err := os.Stat(path); err != nil || st.Mode() != mode {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode(), err, mode)
		}
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != sum {
		t.Errorf("the cache holds %q, want only %s", names, sum)
	}

	offline := &packstore.Cache{Dir: dir}
	if p, err := offline.Path(ctx, sum); err != nil || p != want {
		t.Errorf("from the cache without a store: %q, %v; want %q", p, err, want)
	}
	open := t.TempDir()
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (&packstore.Cache{Dir: open, Store: s}).Path(ctx, sum); err == nil || !strings.Contains(err.Error(), "open to others") {
		t.Errorf("a cache directory others may enter: %v; want it refused", err)
	}
	missing := strings.Repeat("ab", 32)
	if _, err := offline.Path(ctx, missing); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("a binary not cached, without a store: %v; want it refused for want of a store", err)
	}
	if _, err := c.Path(ctx, missing); err == nil || !strings.Contains(err.Error(), "not in the object store") {
		t.Errorf("a binary in neither cache nor store: %v", err)
	}
}

// TestFetchCorrupt: an object whose bytes do not have the hash it is
// named by (another binary put under the testpack's hash) is refused,
// naming both hashes, and leaves nothing in the cache; the host's next
// put replaces it.
func TestFetchCorrupt(t *testing.T) {
	s, obs := newStore(t)
	ctx := testCtx(t)
	bad := []byte("#!/bin/sh\necho not the testpack\n")
	if _, err := obs.PutBytes(ctx, sum, bad); err != nil {
		t.Fatal(err)
	}
	dir := cacheDir(t)
	c := &packstore.Cache{Dir: dir, Store: s}
	p, err := c.Path(ctx, sum)
	if !errors.Is(err, packstore.ErrHashMismatch) {
		t.Fatalf("fetch of a corrupt object: %q, %v; want ErrHashMismatch", p, err)
	}
	badSum, err2 := launch.HexSHA256(writeFile(t, bad))
	if err2 != nil {
		t.Fatal(err2)
	}
	for _, h := range []string{sum, badSum} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("the refusal does not name %s: %v", h, err)
		}
	}
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("the refused binary left %q in the cache", names)
	}
	// The host's next put replaces the object, which is then fetched.
	if up, err := s.Put(ctx, sum, testpack); err != nil || !up {
		t.Fatalf("put over the corrupt object: uploaded %v, %v; want an upload", up, err)
	}
	if _, err := c.Path(ctx, sum); err != nil {
		t.Errorf("fetch after the put: %v", err)
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCachedTampered: a cached binary written to after it was fetched is
// refused, naming both hashes, and removed; the next ask fetches it
// again.
func TestCachedTampered(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	if _, err := s.Put(ctx, sum, testpack); err != nil {
		t.Fatal(err)
	}
	dir := cacheDir(t)
	c := &packstore.Cache{Dir: dir, Store: s}
	path, err := c.Path(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	// It passes launch's check once (as a start would), then is changed.
	if err := launch.Verify(path, mustHex(t, sum)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("tampered")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tampered, err := launch.HexSHA256(path)
	if err != nil {
		t.Fatal(err)
	}

	offline := &packstore.Cache{Dir: dir}
	p, err := offline.Path(ctx, sum)
	if !errors.Is(err, packstore.ErrHashMismatch) {
		t.Fatalf("a tampered cached binary: %q, %v; want ErrHashMismatch", p, err)
	}
	for _, h := range []string{sum, tampered} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("the refusal does not name %s: %v", h, err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tampered binary is still in the cache: %v", err)
	}
	if p, err := c.Path(ctx, sum); err != nil || p != path {
		t.Errorf("ask again with the store: %q, %v; want it fetched again", p, err)
	}
}

func mustHex(t *testing.T, h string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(h, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPlatform: the platform is read from the testpack's header and from
// one built for darwin; a cache refuses the darwin one clearly, naming
// both platforms; a file that is no executable has none.
func TestPlatform(t *testing.T) {
	here := packstore.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	if p, err := packstore.PlatformOf(testpack); err != nil || p != here {
		t.Errorf("PlatformOf(testpack) = %v, %v; want %v", p, err, here)
	}
	foreign := packstore.Platform{OS: "darwin", Arch: "arm64"}
	if runtime.GOOS == "darwin" {
		foreign.OS = "linux"
	}
	bin := filepath.Join(t.TempDir(), "testpack-"+foreign.OS)
	if err := testbuild.Build(bin, "../../internal/testpack", "GOOS="+foreign.OS, "GOARCH="+foreign.Arch, "CGO_ENABLED=0"); err != nil {
		t.Fatal(err)
	}
	if p, err := packstore.PlatformOf(bin); err != nil || p != foreign {
		t.Errorf("PlatformOf(%s build) = %v, %v; want %v", foreign, p, err, foreign)
	}
	script := writeFile(t, []byte("#!/bin/sh\n"))
	if p, err := packstore.PlatformOf(script); !errors.Is(err, packstore.ErrUnknownFormat) {
		t.Errorf("PlatformOf(a script) = %v, %v; want ErrUnknownFormat", p, err)
	}

	s, _ := newStore(t)
	ctx := testCtx(t)
	fsum, err := launch.HexSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, fsum, bin); err != nil {
		t.Fatal(err)
	}
	c := &packstore.Cache{Dir: cacheDir(t), Store: s}
	_, err = c.Path(ctx, fsum)
	if !errors.Is(err, packstore.ErrWrongPlatform) || !strings.Contains(err.Error(), foreign.String()) || !strings.Contains(err.Error(), here.String()) {
		t.Errorf("a %v binary for a %v agent: %v; want ErrWrongPlatform naming both", foreign, here, err)
	}
	if _, err := (&packstore.Cache{Dir: cacheDir(t), Store: s, Platform: foreign}).Path(ctx, fsum); err != nil {
		t.Errorf("a %v binary for a %v agent: %v", foreign, foreign, err)
	}
}

// TestAgentReadsOnly: with an agent's token (hub.AddAgent), the store
// opens and a pack is fetched, with no permissions violation; but the
// agent may not write the store (a chunk, an object's description), nor
// make a consumer on it (whose delivery subject it would choose), purge
// it, delete it or a message of it.
func TestAgentReadsOnly(t *testing.T) {
	h, err := hub.Start(hub.Config{StoreDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ctx := testCtx(t)
	s, err := packstore.Create(ctx, h.Conn(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, sum, testpack); err != nil {
		t.Fatal(err)
	}
	token, err := h.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	nc, err := nats.Connect(h.URL(), nats.Token(token), nats.CustomInboxPrefix(agentwire.AgentInbox("a1")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	as, err := packstore.Open(ctx, nc)
	if err != nil {
		t.Fatalf("open with the agent's token: %v", err)
	}
	c := &packstore.Cache{Dir: cacheDir(t), Store: as}
	if _, err := c.Path(ctx, sum); err != nil {
		t.Fatalf("fetch with the agent's token: %v", err)
	}
	select {
	case err := <-errs:
		t.Fatalf("fetch with the agent's token: %v", err)
	default:
	}

	for _, subject := range []string{
		"$O." + packstore.Bucket + ".C.x",
		"$O." + packstore.Bucket + ".M." + sum,
		"$JS.API.CONSUMER.CREATE." + packstore.Stream,
		"$JS.API.CONSUMER.CREATE." + packstore.Stream + ".c.$O." + packstore.Bucket + ".C.>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + packstore.Stream + ".c",
		"$JS.API.STREAM.PURGE." + packstore.Stream,
		"$JS.API.STREAM.DELETE." + packstore.Stream,
		"$JS.API.STREAM.MSG.DELETE." + packstore.Stream,
	} {
		if err := nc.Publish(subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
				t.Errorf("publish to %s: %v, want a permissions violation", subject, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("publish to %s: allowed", subject)
		}
	}
}
