package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// packsCmd runs taskhost in dir with the packs directory packsDir ("" for
// the default, .taskhost/packs under dir).
func packsCmd(t *testing.T, dir, packsDir string, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "taskhost"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TASKHOST_PACKS_DIR="+packsDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String(), runsDir: filepath.Join(dir, "runs")}
}

func sha256Hex(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeSums(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	var b strings.Builder
	for name, sum := range files {
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// entry is one entry of a test archive.
type entry struct {
	name, link string
	typ        byte // tar type; zip: TypeSymlink or TypeReg
	body       []byte
	mode       int64
}

func writeTarGz(t *testing.T, path string, entries []entry) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeZip(t *testing.T, path string, entries []entry) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := os.FileMode(e.mode)
		body := e.body
		if e.typ == tar.TypeSymlink {
			mode |= os.ModeSymlink
			body = []byte(e.link)
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestInstallRefusals: a bad checksum, a program that is not a pack (or
// speaks another protocol), and an archive entry that would escape the
// directory are each refused, and nothing is left in the packs directory.
// A good archive then installs.
func TestInstallRefusals(t *testing.T) {
	t.Parallel()
	pack, err := os.ReadFile(filepath.Join(bin, "testpack"))
	if err != nil {
		t.Fatal(err)
	}
	script := []byte("#!/bin/sh\necho I am not a pack\n")
	reg := func(name string, body []byte) entry {
		return entry{name: name, typ: tar.TypeReg, body: body, mode: 0o755}
	}
	archive := "testpack_1.0.0_" + runtime.GOOS + "_" + runtime.GOARCH
	tests := map[string]struct {
		// make writes the source into dir and returns its name.
		make func(t *testing.T, dir string) string
		want []string
	}{
		"archive with a bad checksum": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, archive+".tar.gz"), []entry{reg("testpack", pack)})
			writeSums(t, dir, map[string]string{archive + ".tar.gz": strings.Repeat("ab", 32)})
			return archive + ".tar.gz"
		}, []string{"checksum mismatch", "lists " + strings.Repeat("ab", 32)}},
		"archive without SHA256SUMS": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, archive+".tar.gz"), []entry{reg("testpack", pack)})
			return archive + ".tar.gz"
		}, []string{"no checksum", "give it with --sums"}},
		"archive not in SHA256SUMS": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, archive+".tar.gz"), []entry{reg("testpack", pack)})
			writeSums(t, dir, map[string]string{"other.tar.gz": strings.Repeat("ab", 32)})
			return archive + ".tar.gz"
		}, []string{"no checksum", "does not list " + archive + ".tar.gz"}},
		"binary with a bad checksum": {func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "testpack"), pack, 0o755); err != nil {
				t.Fatal(err)
			}
			writeSums(t, dir, map[string]string{"testpack": strings.Repeat("cd", 32)})
			return "testpack"
		}, []string{"checksum mismatch"}},
		"binary that is not a pack": {func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "script"), script, 0o755); err != nil {
				t.Fatal(err)
			}
			return "script"
		}, []string{"not a taskhost pack", "I am not a pack"}},
		"archive of a binary that is not a pack": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, "x.tar.gz"), []entry{reg("x", script)})
			writeSums(t, dir, map[string]string{"x.tar.gz": sha256Hex(t, filepath.Join(dir, "x.tar.gz"))})
			return "x.tar.gz"
		}, []string{"not a taskhost pack"}},
		"pack of another protocol version": {func(t *testing.T, dir string) string {
			return filepath.Join(bin, "otherproto")
		}, []string{"not a taskhost pack", "the pack speaks pack protocol 99, this taskhost speaks [1 2]"}},
		"tar entry with ../": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, "x.tar.gz"), []entry{reg("testpack", pack), reg("../escaped", script)})
			writeSums(t, dir, map[string]string{"x.tar.gz": sha256Hex(t, filepath.Join(dir, "x.tar.gz"))})
			return "x.tar.gz"
		}, []string{"unsafe archive", `"../escaped"`}},
		"tar entry with a nested ../": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, "x.tar.gz"), []entry{reg("a/../../escaped", script)})
			writeSums(t, dir, map[string]string{"x.tar.gz": sha256Hex(t, filepath.Join(dir, "x.tar.gz"))})
			return "x.tar.gz"
		}, []string{"unsafe archive"}},
		"tar entry with an absolute path": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, "x.tar.gz"), []entry{reg(filepath.Join(dir, "escaped"), script)})
			writeSums(t, dir, map[string]string{"x.tar.gz": sha256Hex(t, filepath.Join(dir, "x.tar.gz"))})
			return "x.tar.gz"
		}, []string{"unsafe archive"}},
		"tar symbolic link": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, "x.tar.gz"), []entry{{name: "testpack", typ: tar.TypeSymlink, link: filepath.Join(bin, "testpack")}})
			writeSums(t, dir, map[string]string{"x.tar.gz": sha256Hex(t, filepath.Join(dir, "x.tar.gz"))})
			return "x.tar.gz"
		}, []string{"unsafe archive", "symbolic link"}},
		"tar hard link": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, "x.tar.gz"), []entry{reg("a", pack), {name: "testpack", typ: tar.TypeLink, link: "a"}})
			writeSums(t, dir, map[string]string{"x.tar.gz": sha256Hex(t, filepath.Join(dir, "x.tar.gz"))})
			return "x.tar.gz"
		}, []string{"unsafe archive", "hard link"}},
		"zip entry with ../": {func(t *testing.T, dir string) string {
			writeZip(t, filepath.Join(dir, "x.zip"), []entry{reg("testpack", pack), reg("../escaped", script)})
			writeSums(t, dir, map[string]string{"x.zip": sha256Hex(t, filepath.Join(dir, "x.zip"))})
			return "x.zip"
		}, []string{"unsafe archive", `"../escaped"`}},
		"zip entry with an absolute path": {func(t *testing.T, dir string) string {
			writeZip(t, filepath.Join(dir, "x.zip"), []entry{reg("/escaped", script)})
			writeSums(t, dir, map[string]string{"x.zip": sha256Hex(t, filepath.Join(dir, "x.zip"))})
			return "x.zip"
		}, []string{"unsafe archive"}},
		"zip symbolic link": {func(t *testing.T, dir string) string {
			writeZip(t, filepath.Join(dir, "x.zip"), []entry{{name: "testpack", typ: tar.TypeSymlink, link: "/bin/sh", mode: 0o777}})
			writeSums(t, dir, map[string]string{"x.zip": sha256Hex(t, filepath.Join(dir, "x.zip"))})
			return "x.zip"
		}, []string{"unsafe archive", "symbolic link"}},
		"archive with two executables": {func(t *testing.T, dir string) string {
			writeTarGz(t, filepath.Join(dir, "x.tar.gz"), []entry{reg("testpack", pack), reg("other", script)})
			writeSums(t, dir, map[string]string{"x.tar.gz": sha256Hex(t, filepath.Join(dir, "x.tar.gz"))})
			return "x.tar.gz"
		}, []string{"bad pack archive", "exactly one executable"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			packsDir := filepath.Join(dir, "packs")
			source := tc.make(t, src)
			if !filepath.IsAbs(source) {
				source = filepath.Join(src, source)
			}
			r := packsCmd(t, dir, packsDir, "packs", "install", source)
			if r.code != 4 {
				t.Fatalf("exit %d, want 4\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			// Nothing half-installed, nothing written outside.
			if entries, err := os.ReadDir(packsDir); err != nil || len(entries) != 0 {
				t.Errorf("packs directory after a refused install: %v %v", entries, err)
			}
			for _, p := range []string{filepath.Join(dir, "escaped"), filepath.Join(src, "escaped"), "/escaped"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}

	// The same archive, listed rightly, installs (so the refusals above
	// are for what each test broke), for both kinds of archive.
	for _, ext := range []string{".tar.gz", ".zip"} {
		t.Run("good"+ext, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := filepath.Join(dir, archive+ext)
			entries := []entry{reg("testpack", pack), {name: "README.md", typ: tar.TypeReg, body: []byte("docs"), mode: 0o644}}
			if ext == ".zip" {
				writeZip(t, src, entries)
			} else {
				writeTarGz(t, src, entries)
			}
			writeSums(t, dir, map[string]string{filepath.Base(src): sha256Hex(t, src)})
			packsDir := filepath.Join(dir, "packs")
			r := packsCmd(t, dir, packsDir, "packs", "install", src)
			if r.code != 0 || !strings.Contains(r.stdout, "Installed testpack 1.0.0") || !strings.Contains(r.stdout, "checked against SHA256SUMS") {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			installed := filepath.Join(packsDir, "testpack", "1.0.0", runtime.GOOS+"_"+runtime.GOARCH, "testpack")
			if got, want := sha256Hex(t, installed), sha256Hex(t, filepath.Join(bin, "testpack")); got != want {
				t.Errorf("installed binary has SHA-256 %s, want %s", got, want)
			}
			entries2, _ := os.ReadDir(packsDir)
			if len(entries2) != 1 || entries2[0].Name() != "testpack" {
				t.Errorf("packs directory holds %v, want only testpack (no staging left)", entries2)
			}
		})
	}
}

// TestPacksCommands: install, list, describe, verify and remove.
func TestPacksCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	packsDir := filepath.Join(dir, "packs")
	for _, p := range []string{"testpack", "demo"} {
		if r := packsCmd(t, dir, packsDir, "packs", "install", filepath.Join(bin, p)); r.code != 0 {
			t.Fatalf("install %s: exit %d\n%s%s", p, r.code, r.stdout, r.stderr)
		}
	}
	// Installing the same binary again is no change.
	if r := packsCmd(t, dir, packsDir, "packs", "install", filepath.Join(bin, "demo")); r.code != 0 || !strings.Contains(r.stdout, "Already installed demo") {
		t.Errorf("reinstall: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	l := packsCmd(t, dir, packsDir, "packs", "list")
	for _, w := range []string{"demo  ", "testpack", "1.0.0", runtime.GOOS + "_" + runtime.GOARCH, sha256Hex(t, filepath.Join(bin, "demo"))[:16]} {
		if !strings.Contains(l.stdout, w) {
			t.Errorf("list does not show %q:\n%s", w, l.stdout)
		}
	}
	d := packsCmd(t, dir, packsDir, "packs", "describe", "testpack")
	if d.code != 0 || !strings.Contains(d.stdout, `"name": "testpack"`) || !strings.Contains(d.stdout, `"protocol_versions"`) {
		t.Errorf("describe: exit %d\n%s%s", d.code, d.stdout, d.stderr)
	}
	if d := packsCmd(t, dir, packsDir, "packs", "describe", "nosuch"); d.code != 4 || !strings.Contains(d.stderr, "pack not installed") {
		t.Errorf("describe nosuch: exit %d\n%s", d.code, d.stderr)
	}
	if v := packsCmd(t, dir, packsDir, "packs", "verify"); v.code != 0 || strings.Count(v.stdout, "ok ") != 2 {
		t.Errorf("verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	if r := packsCmd(t, dir, packsDir, "packs", "remove", "testpack@1.0.0"); r.code != 0 {
		t.Errorf("remove: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(packsDir, "testpack")); err == nil {
		t.Error("testpack's directory is still there")
	}
	if r := packsCmd(t, dir, packsDir, "packs", "remove", "testpack@1.0.0"); r.code != 1 || !strings.Contains(r.stderr, "not installed") {
		t.Errorf("remove again: exit %d\n%s", r.code, r.stderr)
	}
	if r := packsCmd(t, dir, packsDir, "packs", "remove", "testpack"); r.code != 2 {
		t.Errorf("remove without a version: exit %d\n%s", r.code, r.stderr)
	}
	l = packsCmd(t, dir, packsDir, "packs", "list")
	if strings.Contains(l.stdout, "testpack") || !strings.Contains(l.stdout, "demo") {
		t.Errorf("list after remove:\n%s", l.stdout)
	}
}

// TestLockedRun: a jobfile requiring an installed pack runs only once it
// is locked, with the locked version and binary; every pack, the ones
// given by path too, is checked against the lock before any task starts.
func TestLockedRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	packsDir := filepath.Join(dir, "packs")
	if r := packsCmd(t, dir, packsDir, "packs", "install", filepath.Join(bin, "testpack")); r.code != 0 {
		t.Fatalf("install: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	local := filepath.Join(dir, "demo")
	if err := os.WriteFile(local, []byte(mustRead(t, filepath.Join(bin, "demo"))), 0o755); err != nil {
		t.Fatal(err)
	}
	writeJob := func(constraint string) {
		src := fmt.Sprintf(`
required_packs {
  testpack = { version = %q }
}
job "locked" {}
pack "demo" { path = "demo" }
task "a" {
  pack = "testpack"
  task = "pass"
}
task "b" {
  pack = "demo"
  task = "hello"
  args = { name = "x" }
}
`, constraint)
		if err := os.WriteFile(filepath.Join(dir, "job.hcl"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeJob(">= 1.0, < 2.0")
	noRun := func(r runResult, want ...string) {
		t.Helper()
		r.runsDir = filepath.Join(dir, "runs-refused")
		if r.code != 2 {
			t.Errorf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
			}
		}
		if _, err := os.Stat(r.runsDir); err == nil {
			t.Errorf("a run directory was made")
		}
	}
	noRun(packsCmd(t, dir, packsDir, "run", "--runs-dir", "runs-refused", "job.hcl"), "Packs not locked", "taskhost packs lock job.hcl", "job.hcl:3:3")

	lk := packsCmd(t, dir, packsDir, "packs", "lock", "job.hcl")
	if lk.code != 0 {
		t.Fatalf("lock: exit %d\n%s%s", lk.code, lk.stdout, lk.stderr)
	}
	lock := mustRead(t, filepath.Join(dir, "taskhost.lock.hcl"))
	for _, w := range []string{`pack "testpack"`, `version     = "1.0.0"`, `constraints = ">= 1.0, < 2.0"`, sha256Hex(t, filepath.Join(bin, "testpack")),
		`pack "demo"`, `"demo"`, sha256Hex(t, local)} {
		if !strings.Contains(lock, w) {
			t.Errorf("lock file does not hold %q:\n%s", w, lock)
		}
	}
	r := packsCmd(t, dir, packsDir, "run", "--runs-dir", "runs", "job.hcl")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	for _, id := range []string{"a", "b"} {
		if got := taskByID(t, f, id).Result.Value; got != result.Passed {
			t.Errorf("%s: %s", id, got)
		}
	}
	if v := packsCmd(t, dir, packsDir, "packs", "verify", "job.hcl"); v.code != 0 || strings.Count(v.stdout, "ok ") != 2 {
		t.Errorf("verify job.hcl: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}

	// The pack given by path changes: refused, naming it and both hashes.
	before := sha256Hex(t, local)
	flipByte(t, local)
	noRun(packsCmd(t, dir, packsDir, "run", "--runs-dir", "runs-refused", "job.hcl"),
		"Pack binary does not match the lock", `The pack "demo"`, before, sha256Hex(t, local))
	if v := packsCmd(t, dir, packsDir, "packs", "verify", "job.hcl"); v.code != 1 {
		t.Errorf("verify after the change: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	flipByte(t, local) // back as it was

	// A constraint that the locked version does not meet.
	writeJob(">= 2.0")
	noRun(packsCmd(t, dir, packsDir, "run", "--runs-dir", "runs-refused", "job.hcl"), "Locked version not allowed", "1.0.0")
	if lk := packsCmd(t, dir, packsDir, "packs", "lock", "job.hcl"); lk.code != 4 || !strings.Contains(lk.stderr, "no installed version of testpack matches") {
		t.Errorf("lock with no matching version: exit %d\n%s", lk.code, lk.stderr)
	}
	writeJob(">= 1.0, < 2.0")

	// The locked version is removed.
	packsCmd(t, dir, packsDir, "packs", "remove", "testpack@1.0.0")
	noRun(packsCmd(t, dir, packsDir, "run", "--runs-dir", "runs-refused", "job.hcl"), "Locked pack not installed", "taskhost packs install")
}

// flipByte changes one byte of the file in the middle.
func flipByte(t *testing.T, path string) {
	t.Helper()
	b := []byte(mustRead(t, path))
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestPinnedLaunch: the lock is checked again at every start of a pack
// (go-plugin's SecureConfig), not only before the run: a task changes the
// binary of a pinned pack while the run goes on, and the task that starts
// that pack next ends Errored with both hashes, while the others run.
func TestPinnedLaunch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	local := filepath.Join(dir, "demo")
	if err := os.WriteFile(local, []byte(mustRead(t, filepath.Join(bin, "demo"))), 0o755); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered")
	b := []byte(mustRead(t, local))
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(tampered, b, 0o755); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
job "pinned" {}
pack "demo" { path = "demo" }
pack "exec" { path = %q }
task "before" {
  pack = "demo"
  task = "hello"
  args = { name = "a" }
}
task "change" {
  pack       = "exec"
  task       = "run"
  args       = { command = "mv", args = [%q, %q] }
  depends_on = [task.before]
}
task "after" {
  pack       = "demo"
  task       = "hello"
  args       = { name = "b" }
  depends_on = [task.change]
}
`, filepath.Join(bin, "exec"), tampered, local)
	if err := os.WriteFile(filepath.Join(dir, "job.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// mv, not cp: a rename does not fail on a binary that is still running.
	pinned, changed := sha256Hex(t, local), sha256Hex(t, tampered)
	if lk := packsCmd(t, dir, "", "packs", "lock", "job.hcl"); lk.code != 0 {
		t.Fatalf("lock: exit %d\n%s%s", lk.code, lk.stdout, lk.stderr)
	}
	r := packsCmd(t, dir, "", "run", "--runs-dir", "runs", "job.hcl")
	if r.code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	for id, want := range map[string]result.Result{"before": result.Passed, "change": result.Passed, "after": result.Errored} {
		if got := taskByID(t, f, id).Result.Value; got != want {
			t.Errorf("%s: %s, want %s (%s)", id, got, want, taskByID(t, f, id).Result.Reason)
		}
	}
	reason := taskByID(t, f, "after").Result.Reason
	for _, w := range []string{"does not match its pinned SHA-256", local, pinned, changed} {
		if !strings.Contains(reason, w) {
			t.Errorf("after's reason does not say %q: %s", w, reason)
		}
	}
}
