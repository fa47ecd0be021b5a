package htmlreport

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// Everything a task names is escaped, and the page holds its log file.
func TestRenderEscapesAndEmbeds(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tasks", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "tasks", "x", "task.log"), []byte("line one\n"), 0o644)
	evil := `<script>alert("x")</script>`
	f := &results.File{Version: 1, Report: results.Report{Name: "j", StartTime: time.Now(), Result: result.Failed,
		Tasks: []*results.Task{{ID: "x", Pack: "p", Task: "t", Result: report.Outcome{Value: result.Failed, Reason: evil},
			Sections: []*report.Node{{Type: "step", ID: "1", Name: evil, Result: report.Outcome{Value: result.Failed, Reason: evil,
				Data: []byte(`{"k":"` + strings.ReplaceAll(evil, `"`, `\"`) + `"}`)},
				Logs: &report.LogRef{File: "tasks/x/task.log", Begin: 0, Size: 9}}}}}}}
	var b strings.Builder
	if err := Render(&b, dir, f); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>alert") {
		t.Errorf("a name or reason went into the page unescaped")
	}
	if strings.Count(page, "&lt;script&gt;alert") < 3 {
		t.Errorf("the step's name, reason and data are not all shown")
	}
	if !strings.Contains(page, `data-file="tasks/x/task.log" data-b64="bGluZSBvbmUK"`) {
		t.Errorf("the log file is not in the page")
	}
	if !strings.Contains(page, `data-log="0" data-begin="0" data-size="9"`) {
		t.Errorf("the step does not point at its lines")
	}
	for _, remote := range []string{"http://", "https://"} {
		if strings.Contains(page, remote) {
			t.Errorf("the page refers to %s: it must work offline", remote)
		}
	}
}

// A step's log reference is the task's word: only a file in the task's
// own directory goes into the page, not another task's log, a file out
// of the run directory, or one a link in the task's directory leads to.
func TestRenderReadsOnlyTheTasksOwnLogs(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"tasks/x", "tasks/y"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "tasks", "y", "task.log"), []byte("y's secret\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("run's secret\n"), 0o644)
	os.Symlink("../../secret", filepath.Join(dir, "tasks", "x", "link.log"))
	var steps []*report.Node
	for i, file := range []string{"tasks/y/task.log", "secret", "../secret", "/etc/passwd", "tasks/x/link.log"} {
		steps = append(steps, &report.Node{Type: "step", ID: string(rune('1' + i)), Name: "s", Result: report.Outcome{Value: result.Passed},
			Logs: &report.LogRef{File: file, Size: 5}})
	}
	f := &results.File{Version: 1, Report: results.Report{Name: "j", StartTime: time.Now(), Result: result.Passed,
		Tasks: []*results.Task{{ID: "x", Pack: "p", Task: "t", Result: report.Outcome{Value: result.Passed}, Sections: steps}}}}
	var b strings.Builder
	if err := Render(&b, dir, f); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, `class="logdata"`) || strings.Contains(page, "root:") {
		t.Errorf("a file outside the task's directory went into the page")
	}
	if n := strings.Count(page, `class="nolog"`); n != len(steps) {
		t.Errorf("%d steps say they have no log in the page, want %d", n, len(steps))
	}
}

// One huge log line goes into the page cut, saying where the whole line
// is, and the steps after it still point at their own lines.
func TestRenderCutsAHugeLine(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tasks", "x"), 0o755)
	big := "start " + strings.Repeat("x", 10<<20) + " end\n"
	log := "before\n" + big + "after\n"
	os.WriteFile(filepath.Join(dir, "tasks", "x", "task.log"), []byte(log), 0o644)
	ref := func(s string) *report.LogRef {
		i := strings.Index(log, s)
		return &report.LogRef{File: "tasks/x/task.log", Begin: int64(i), Size: int64(len(s))}
	}
	step := func(id, s string) *report.Node {
		return &report.Node{Type: "step", ID: id, Name: "s" + id, Result: report.Outcome{Value: result.Passed}, Logs: ref(s)}
	}
	f := &results.File{Version: 1, Report: results.Report{Name: "j", StartTime: time.Now(), Result: result.Passed,
		Tasks: []*results.Task{{ID: "x", Pack: "p", Task: "t", Result: report.Outcome{Value: result.Passed},
			Sections: []*report.Node{step("1", "before\n"), step("2", big), step("3", "after\n"), step("4", log)}}}}}
	var b strings.Builder
	if err := Render(&b, dir, f); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if len(page) > 1<<20 {
		t.Errorf("the page is %d bytes for a log of one 10 MB line", len(page))
	}
	m := regexp.MustCompile(`data-file="tasks/x/task.log" data-b64="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the log file is not in the page")
	}
	data, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, m := range regexp.MustCompile(`data-step="(\d)".*?data-begin="(\d+)" data-size="(\d+)"`).FindAllStringSubmatch(page, -1) {
		begin, _ := strconv.Atoi(m[2])
		size, _ := strconv.Atoi(m[3])
		if begin+size > len(data) {
			t.Fatalf("step %s points past the page's copy of the log: %d+%d > %d", m[1], begin, size, len(data))
		}
		lines[m[1]] = string(data[begin : begin+size])
	}
	note := fmt.Sprintf("bytes 7 to %d of tasks/x/task.log in the run directory", 7+len(big))
	if s := lines["2"]; !strings.HasPrefix(s, "start xxx") || !strings.HasSuffix(s, "xxx end\n") || !strings.Contains(s, note) {
		t.Errorf("the big step's lines: %.100q … %.300q", s, s[max(0, len(s)-300):])
	}
	if lines["1"] != "before\n" || lines["3"] != "after\n" {
		t.Errorf("the steps around it: %q, %q", lines["1"], lines["3"])
	}
	if s := lines["4"]; !strings.HasPrefix(s, "before\nstart ") || !strings.HasSuffix(s, " end\nafter\n") || !strings.Contains(s, note) {
		t.Errorf("the section around it: %.100q … %.300q", s, s[max(0, len(s)-300):])
	}
}

// A log file too large for the page is read once, not again for each of
// the many steps that name it (a task of 1,000,000 steps read its
// 150 MB log a million times).
func TestRenderRefusesALogOnce(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tasks", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "tasks", "x", "task.log"), []byte(strings.Repeat("a line\n", 100)), 0o644)
	defer func(max int64) { MaxLogBytes = max }(MaxLogBytes)
	MaxLogBytes = 10
	opened := 0
	defer func(open func(string, string, string) (*os.File, error)) { openLog = open }(openLog)
	openLog = func(runDir, dir, file string) (*os.File, error) {
		opened++
		return results.OpenLog(runDir, dir, file)
	}
	var ns []*report.Node
	for i := range 1000 {
		ns = append(ns, &report.Node{Type: "step", ID: strconv.Itoa(i), Name: "s", Result: report.Outcome{Value: result.Passed},
			Logs: &report.LogRef{File: "tasks/x/task.log", Begin: int64(i % 100 * 7), Size: 7}})
	}
	f := &results.File{Version: 1, Report: results.Report{Name: "j", StartTime: time.Now(), Result: result.Passed,
		Tasks: []*results.Task{{ID: "x", Pack: "p", Task: "t", Result: report.Outcome{Value: result.Passed}, Sections: ns}}}}
	var b strings.Builder
	if err := Render(&b, dir, f); err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(b.String(), "tasks/x/task.log is too large for the page"); c != 1000 {
		t.Errorf("%d steps say their log is too large for the page, want 1000", c)
	}
	if opened != 1 {
		t.Errorf("the log file was opened %d times, want once", opened)
	}
}
