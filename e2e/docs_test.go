package e2e

// The docs quote jobfiles and terminal output. These tests keep them true:
// every jobfile shown is in canonical form, and every transcript marked in
// a doc's source is run and compared with what it shows.
//
// Markers are HTML comments on the lines just before a fenced block:
//
//	<!-- file: PATH -->        the block is a file of the doc's example:
//	                           written to PATH in the doc's directory (a Go
//	                           file plugins/NAME/main.go is built to bin/NAME)
//	<!-- transcript: CMD -->   CMD is run there and its output compared
//	                           with the lines after "$ CMD" in the block (or
//	                           the block's last part, if it shows no "$ CMD")
//	<!-- fragment -->          an hcl block that is not a whole file
//
// A doc's directory holds bin/ (taskhost and the example packs) and a copy
// of jobs/, as a checkout does after make build; a doc's markers are run in
// their order, so later commands see what earlier ones made (runs/).

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// docBlock is a fenced block of a doc, with the markers before it.
type docBlock struct {
	doc     string   // the doc's path, relative to the repository
	line    int      // the line of the opening fence
	indent  string   // the blanks before the fence
	lang    string   // the fence's info string
	markers []string // the HTML comments just before it, without <!-- -->
	text    []string // its lines, without the fence's indentation
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d", b.doc, b.line) }

// marker returns the value of the first marker "NAME: VALUE", or "NAME"
// alone.
func (b docBlock) marker(name string) (string, bool) {
	v := b.markersNamed(name)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// markersNamed returns the values of every marker "NAME: VALUE".
func (b docBlock) markersNamed(name string) []string {
	var out []string
	for _, m := range b.markers {
		if m == name {
			out = append(out, "")
		} else if v, ok := strings.CutPrefix(m, name+":"); ok {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

var (
	fenceOpen = regexp.MustCompile("^(\\s*)```(\\S*)\\s*$")
	htmlNote  = regexp.MustCompile(`^\s*<!--\s*(.*?)\s*-->\s*$`)
)

// docs lists README.md and docs/*.md, relative to the repository.
func docs(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md"}
	for _, n := range names {
		out = append(out, strings.TrimPrefix(n, "../"))
	}
	return out
}

// docBlocks returns the fenced blocks of a doc, in order.
func docBlocks(t *testing.T, doc string) []docBlock {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", doc))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var markers []string
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		if m := htmlNote.FindStringSubmatch(lines[i]); m != nil {
			markers = append(markers, m[1])
			continue
		}
		m := fenceOpen.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.TrimSpace(lines[i]) != "" {
				markers = nil
			}
			continue
		}
		b := docBlock{doc: doc, line: i + 1, indent: m[1], lang: m[2], markers: markers}
		markers = nil
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == "```" {
				break
			}
			b.text = append(b.text, strings.TrimPrefix(lines[i], m[1]))
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// TestDocsJobfilesFormatted runs taskhost fmt -check on every jobfile the
// docs show (each hcl block but a fragment) and on jobs/.
func TestDocsJobfilesFormatted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	where := map[string]docBlock{}
	for _, doc := range docs(t) {
		for _, b := range docBlocks(t, doc) {
			if b.lang != "hcl" {
				continue
			}
			if _, ok := b.marker("fragment"); ok {
				continue
			}
			name := filepath.Join(dir, fmt.Sprintf("%s-%d.hcl", strings.NewReplacer("/", "-", ".md", "").Replace(doc), b.line))
			if err := os.WriteFile(name, []byte(strings.Join(b.text, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, name)
			where[name] = b
		}
	}
	if len(files) < 20 {
		t.Fatalf("found only %d hcl blocks in the docs", len(files))
	}
	for _, f := range append(files, "../jobs") {
		r := taskhost(t, "fmt", "--check", f)
		if r.code == 0 {
			continue
		}
		b, ok := where[f]
		if !ok {
			t.Errorf("taskhost fmt --check %s: exit %d\n%s%s", f, r.code, r.stdout, r.stderr)
			continue
		}
		fixed, _ := os.ReadFile(f)
		if r.code == 1 {
			cp := f + ".fmt.hcl"
			os.WriteFile(cp, fixed, 0o644)
			taskhost(t, "fmt", cp)
			fixed, _ = os.ReadFile(cp)
		}
		t.Errorf("%s: the jobfile shown is not in canonical form (taskhost fmt --check: exit %d)\n%s%s\ncanonical:\n%s",
			b, r.code, r.stdout, r.stderr, fixed)
	}
}

// TestDocsTranscripts runs each marked transcript of each doc and compares
// the shape of its output with the doc's.
func TestDocsTranscripts(t *testing.T) {
	n := 0
	for _, doc := range docs(t) {
		blocks := docBlocks(t, doc)
		if !slices.ContainsFunc(blocks, func(b docBlock) bool { _, ok := b.marker("transcript"); return ok }) {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(filepath.Base(doc), ".md"), func(t *testing.T) {
			t.Parallel()
			work := docWorkdir(t)
			var edits []docEdit
			for _, b := range blocks {
				if path, ok := b.marker("file"); ok {
					writeDocFile(t, work, path, b)
				}
				for _, cmd := range b.markersNamed("transcript") {
					if e, ok := checkTranscript(t, work, cmd, b); ok {
						edits = append(edits, e)
					}
				}
			}
			if *updateDocs {
				applyDocEdits(t, doc, edits)
			}
		})
	}
	if n < 3 {
		t.Fatalf("transcripts marked in only %d docs", n)
	}
}

// The notify pack, which only the docs' examples use, is built once.
var (
	notifyOnce sync.Once
	notifyErr  error
)

// docWorkdir makes a directory as a checkout is after make build: bin/
// with taskhost and the example Go packs, jobs/, and the Python SDK and
// example pack's sources (make build builds that pack).
func docWorkdir(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	notifyOnce.Do(func() {
		out, err := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", bin+"/", "../plugins/notify")...).CombinedOutput()
		if err != nil {
			notifyErr = fmt.Errorf("build the notify pack: %v\n%s", err, out)
		}
	})
	if notifyErr != nil {
		t.Fatal(notifyErr)
	}
	for _, name := range []string{"taskhost", "demo", "exec", "notify"} {
		if err := os.Symlink(filepath.Join(bin, name), filepath.Join(work, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(work, "jobs"), os.DirFS("../jobs")); err != nil {
		t.Fatal(err)
	}
	// make build also builds the Python example pack, from the SDK and
	// the pack's sources, as in a checkout.
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"sdk", "plugins/pynet"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, dir)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(repo, dir), filepath.Join(work, dir)); err != nil {
			t.Fatal(err)
		}
	}
	return work
}

// writeDocFile writes a block marked "file: PATH" into work; a pack's
// main.go is built, as the doc's reader builds it, with the repository's
// module (by an overlay, so nothing is written into the repository).
func writeDocFile(t *testing.T, work, path string, b docBlock) {
	t.Helper()
	dst := filepath.Join(work, path)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte(strings.Join(b.text, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pack, ok := strings.CutSuffix(path, "/main.go")
	if !ok || !strings.HasPrefix(pack, "plugins/") {
		return
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(repo, path): dst}})
	ov := filepath.Join(t.TempDir(), "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-overlay", ov, "-o", filepath.Join(work, "bin", filepath.Base(pack)), "./"+pack)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: the pack shown does not build: %v\n%s", b, err, out)
	}
}

var docRunDir = regexp.MustCompile(`runs/([A-Za-z0-9_-]+)\.\d{8}-\d{6}(?:-\d+)?`)

// docCommand turns a command of a doc into one for sh in work: a run
// directory named in the doc becomes the latest run of that job; make is
// what the Makefile would do, but with the binaries already built.
func docCommand(t *testing.T, work, cmd string) string {
	t.Helper()
	cmd = docRunDir.ReplaceAllStringFunc(cmd, func(s string) string {
		job := docRunDir.FindStringSubmatch(s)[1]
		dirs, _ := filepath.Glob(filepath.Join(work, "runs", job+".*"))
		sort.Slice(dirs, func(i, j int) bool {
			a, _ := os.Stat(dirs[i])
			b, _ := os.Stat(dirs[j])
			return a.ModTime().Before(b.ModTime())
		})
		if len(dirs) == 0 {
			t.Fatalf("%s: no run of %s made before", cmd, job)
		}
		return "runs/" + filepath.Base(dirs[len(dirs)-1])
	})
	target, ok := strings.CutPrefix(cmd, "make ")
	if !ok {
		return cmd
	}
	out, err := exec.Command("make", "-n", "-C", "..", "--no-print-directory", target).Output()
	if err != nil {
		t.Fatalf("make -n %s: %v", target, err)
	}
	var script []string
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "go build ") {
			// make echoes it; the binaries are in bin/ already.
			script = append(script, "echo "+shellQuote(line))
			continue
		}
		if strings.HasPrefix(line, "PYTHONPATH=") {
			// make echoes the Python pack's build too, and it runs.
			script = append(script, "echo "+shellQuote(line))
		}
		script = append(script, line)
	}
	return strings.Join(script, "\n")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// updateDocs has TestDocsTranscripts write the output of each transcript
// that differs into its doc, for a person to read and commit.
var updateDocs = flag.Bool("update-docs", false, "write the real output of the docs' transcripts that differ into the docs")

// docEdit replaces lines [from, to) of a doc (0-based).
type docEdit struct {
	from, to int
	lines    []string
}

func applyDocEdits(t *testing.T, doc string, edits []docEdit) {
	t.Helper()
	if len(edits) == 0 {
		return
	}
	path := filepath.Join("..", doc)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	sort.Slice(edits, func(i, j int) bool { return edits[i].from > edits[j].from })
	for _, e := range edits {
		lines = slices.Replace(lines, e.from, e.to, e.lines...)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("updated %d transcripts of %s", len(edits), doc)
}

// docCheckout is where the docs' commands are typed: the directory of a
// doc's example stands for it in the output.
const docCheckout = "/home/me/taskhost"

// shellEnv is this process's environment as a user's shell has it:
// without what a make running this test passes to its children, so a
// make the doc shows does not print the directories it enters as a
// sub-make does.
func shellEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// checkTranscript runs cmd in work and compares its output and exit code
// with the block's. If they differ, it returns the edit that makes the
// doc show the output.
func checkTranscript(t *testing.T, work, cmd string, b docBlock) (docEdit, bool) {
	t.Helper()
	want, wantCode, start := transcriptOf(cmd, b)
	whole := start >= 0
	if len(want) == 0 {
		t.Errorf("%s: transcript of %q shows no output", b, cmd)
		return docEdit{}, false
	}
	sh := exec.Command("sh", "-c", docCommand(t, work, cmd))
	sh.Dir = work
	sh.Env = append(shellEnv(), "PATH="+filepath.Join(work, "bin")+":"+os.Getenv("PATH"), "COLUMNS=80")
	sh.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	sh.Stdout, sh.Stderr = &out, &out
	err := sh.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	// The doc reads as typed in a checkout, not in this test's directory.
	got := strings.Split(strings.TrimRight(strings.ReplaceAll(out.String(), work, docCheckout), "\n"), "\n")
	problem := compareShape(want, got, whole)
	if problem != "" {
		t.Errorf("%s: $ %s: the output does not have the shape the doc shows: %s\n--- the doc:\n%s\n--- the output:\n%s",
			b, cmd, problem, strings.Join(want, "\n"), out.String())
	}
	if wantCode >= 0 && code != wantCode {
		t.Errorf("%s: $ %s: exit code %d, the doc says %d\n%s", b, cmd, code, wantCode, out.String())
	}
	if problem == "" {
		return docEdit{}, false
	}
	e := docEdit{from: b.line + start, to: b.line + start + len(want)}
	if !whole {
		e.from, e.to = b.line, b.line+len(b.text)
		got = got[max(0, len(got)-len(want)):]
	}
	for _, l := range got {
		e.lines = append(e.lines, strings.TrimRight(b.indent+l, " "))
	}
	return e, true
}

// transcriptOf returns the lines of b that show cmd's output, the exit
// code the block shows for it (from "$ echo $?", else -1), and the index
// of their first line in b.text, or -1 if they are only the output's last
// part.
func transcriptOf(cmd string, b docBlock) (lines []string, code, start int) {
	code = -1
	last := cmd
	if i := strings.LastIndex(cmd, "&& "); i >= 0 {
		last = strings.TrimSpace(cmd[i+3:])
	}
	start = -1
	for i, l := range b.text {
		if l == "$ "+cmd || l == "$ "+last {
			start = i + 1
		}
	}
	if start < 0 {
		for _, l := range b.text {
			if !strings.HasPrefix(l, "$ ") {
				lines = append(lines, l)
			}
		}
		return lines, code, -1
	}
	i := start
	for ; i < len(b.text) && !strings.HasPrefix(b.text[i], "$ "); i++ {
		lines = append(lines, b.text[i])
	}
	if i+1 < len(b.text) && b.text[i] == "$ echo $?" {
		code, _ = strconv.Atoi(b.text[i+1])
	}
	return lines, code, start
}

// The parts of a line that differ from run to run.
var shapeRules = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
	{regexp.MustCompile(`^\d\d:\d\d:\d\d `), "TIME "},
	{regexp.MustCompile(`\.\d{8}-\d{6}(-\d+)?`), ".STAMP"},
	{regexp.MustCompile(`pid \d+`), "pid N"},
	{regexp.MustCompile(`(^|[\s(])/\S*/runs/`), "${1}/…/runs/"},
	{regexp.MustCompile(`\b\d+ bytes\b`), "N bytes"},
}

// docDuration is a duration, with the blanks after it that pad a column.
var docDuration = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m|h)(\d+(\.\d+)?(ns|µs|ms|s|m|h))*\b( +)?`)

// shape is a line without what differs from run to run: times, pids,
// paths of run directories, durations (and the blanks that pad them in a
// column), trailing blanks.
func shape(line string) string {
	for _, r := range shapeRules {
		line = r.re.ReplaceAllString(line, r.with)
	}
	line = docDuration.ReplaceAllStringFunc(line, func(d string) string {
		if strings.HasSuffix(d, " ") {
			return "DUR "
		}
		return "DUR"
	})
	return strings.TrimRight(line, " \t")
}

// live reports whether a line is one of the timestamped lines printed as
// tasks start and end, whose order between tasks varies.
func live(line string) bool { return strings.HasPrefix(line, "TIME ") }

// compareShape compares what a doc shows with real output: the lines in
// order, but the timestamped lines as a set (tasks run in parallel), each
// task's in order. With whole false, want is the end of got.
func compareShape(want, got []string, whole bool) string {
	split := func(lines []string) (fixed, timed []string) {
		for _, l := range lines {
			s := shape(l)
			if live(s) {
				timed = append(timed, s)
			} else {
				fixed = append(fixed, s)
			}
		}
		return fixed, timed
	}
	wf, wt := split(want)
	gf, gt := split(got)
	wt, gt = settle(wt), settle(gt)
	if !whole {
		if len(gf) < len(wf) {
			return fmt.Sprintf("%d lines, the doc shows %d", len(gf), len(wf))
		}
		gf = gf[len(gf)-len(wf):]
	}
	if d := lineDiff(wf, gf); d != "" {
		return d
	}
	if whole {
		ws, gs := slices.Sorted(slices.Values(wt)), slices.Sorted(slices.Values(gt))
		if d := lineDiff(ws, gs); d != "" {
			return "the timestamped lines (in any order): " + d
		}
		if d := taskOrder(wt, gt); d != "" {
			return d
		}
	} else {
		for _, l := range wt {
			if !slices.Contains(gt, l) {
				return fmt.Sprintf("no line %q", l)
			}
		}
	}
	return ""
}

var abortedInRun = regexp.MustCompile(`^(TIME \S+ ABORTED) in DUR \((.*)\)$`)

// settle writes a task that was started and then Aborted by its timeout as
// one aborted before it started: which of the two happens depends on how
// long its pack took to start, that is on the machine's load.
func settle(lines []string) []string {
	var out []string
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == "started" && f[3] == "(pack" {
			// Dropped if the task's next line ends it Aborted.
			next := ""
			for _, m := range lines[i+1:] {
				if g := strings.Fields(m); len(g) > 1 && g[1] == f[1] {
					next = m
					break
				}
			}
			if abortedInRun.MatchString(next) {
				continue
			}
		}
		out = append(out, abortedInRun.ReplaceAllString(l, "$1 $2"))
	}
	return out
}

// taskOrder checks that each task's timestamped lines come in the order
// the doc shows them.
func taskOrder(want, got []string) string {
	byTask := func(lines []string) map[string][]string {
		m := map[string][]string{}
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) > 1 {
				m[f[1]] = append(m[f[1]], l)
			}
		}
		return m
	}
	w, g := byTask(want), byTask(got)
	for task, lines := range w {
		if !slices.Equal(lines, g[task]) {
			return fmt.Sprintf("the lines of %s come in another order: want\n%s\ngot\n%s", task, strings.Join(lines, "\n"), strings.Join(g[task], "\n"))
		}
	}
	return ""
}

// sameTruncated reports whether two lines cut to the terminal's width
// ("...") agree up to the shorter one: where a cell is cut depends on the
// length of the paths before it.
func sameTruncated(w, g string) bool {
	w, okw := strings.CutSuffix(w, "...")
	g, okg := strings.CutSuffix(g, "...")
	if !okw || !okg {
		return false
	}
	n := min(len(w), len(g))
	return w[:n] == g[:n]
}

// lineDiff names the first difference between two lists of lines.
func lineDiff(want, got []string) string {
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g && !sameTruncated(w, g) {
			return fmt.Sprintf("line %d:\n  doc:    %q\n  output: %q", i+1, w, g)
		}
	}
	return ""
}
