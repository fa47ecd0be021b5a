package e2e

import (
	"bufio"
	"context"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/taskhost/taskhost/internal/report"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the report's screenshot to docs/report.png")

// browser starts a real headless Chromium (Debian's package) for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("Chromium is needed to test report.html: apt-get install chromium (make test does: scripts/test-deps)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// visible reports whether the element sel is displayed.
func visible(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	js := `(function(){var e=document.querySelector(` + jsString(sel) + `); if(!e) throw new Error("no element " + ` + jsString(sel) + `); return e.getClientRects().length > 0;})()`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return v
}

// do runs one action in the browser and returns its value.
func do[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// report.html of a real run, in a real Chromium: the tree renders, a failed
// step's log lines show when asked, the filter hides what passed, search
// finds a task.
func TestReportHTMLInChromium(t *testing.T) {
	r := taskhost(t, "run", job(t, mixedJob))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	page := filepath.Join(dir, "report.html")
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, remote := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(string(b), "src=\""+remote) || strings.Contains(string(b), "href=\""+remote) {
			t.Errorf("report.html loads something from %s", remote)
		}
	}
	f := r.results(t)
	checks := taskByID(t, f, "checks")
	var failed *report.Node
	var find func(ns []*report.Node)
	find = func(ns []*report.Node) {
		for _, n := range ns {
			if failed == nil && n.Type == "step" && n.Result.Value.String() == "failed" && len(n.Sections) == 0 {
				failed = n
			}
			find(n.Sections)
		}
	}
	find(checks.Sections)
	if failed == nil || failed.Logs == nil {
		t.Fatalf("no failed step with log lines in checks")
	}
	log, _ := os.ReadFile(filepath.Join(dir, failed.Logs.File))
	wantLog := string(log[failed.Logs.Begin : failed.Logs.Begin+failed.Logs.Size])

	ctx := browser(t)
	stepSel := `.task[data-task="checks"] .node[data-step="` + failed.ID + `"]`
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS(`#tree`))); err != nil {
		t.Fatal(err)
	}
	tasks := do(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tree .task").length`))
	jobRes := do(t, ctx, chromedp.Text(chromedp.CSS(`#job-result`)))
	checksRs := do(t, ctx, chromedp.Text(chromedp.CSS(`.task[data-task="checks"] > summary .badge`)))
	if tasks != len(f.Report.Tasks) {
		t.Errorf("the tree shows %d tasks, want %d", tasks, len(f.Report.Tasks))
	}
	if !strings.EqualFold(jobRes, f.Report.Result.String()) || !strings.EqualFold(checksRs, "failed") {
		t.Errorf("job result %q (want %s), checks %q", jobRes, f.Report.Result, checksRs)
	}
	if visible(t, ctx, stepSel+` > pre.log`) {
		t.Errorf("log lines shown before they were asked for")
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(stepSel+` > .row > .logbtn`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(stepSel+` > pre.log`)),
	); err != nil {
		t.Fatal(err)
	}
	logText := do(t, ctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(stepSel+` > pre.log`)+`).textContent`))
	if logText != wantLog {
		t.Errorf("failed step's log in the page:\n%q\nwant\n%q", logText, wantLog)
	}
	if !strings.Contains(logText, failed.Result.Reason) {
		t.Errorf("the log lines lack the failure %q", failed.Result.Reason)
	}

	// Search: "crash" leaves only that task; clearing it shows all again.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#search`), "crash")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"hello", "checks", "after"} {
		if visible(t, ctx, `.task[data-task="`+id+`"]`) {
			t.Errorf("search for crash shows %s", id)
		}
	}
	if !visible(t, ctx, `.task[data-task="crash"]`) {
		t.Errorf("search for crash hides it")
	}
	do(t, ctx, chromedp.Evaluate[bool](`(function(){var s=document.getElementById("search"); s.value=""; s.dispatchEvent(new Event("input")); return true})()`))

	// The filter hides the task that passed, and keeps the others.
	if !visible(t, ctx, `.task[data-task="hello"]`) {
		t.Fatal("the passed task is hidden before the filter is on")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#notpassed`))); err != nil {
		t.Fatal(err)
	}
	shown := do(t, ctx, chromedp.Text(chromedp.CSS(`#shown`)))
	if visible(t, ctx, `.task[data-task="hello"]`) {
		t.Errorf("the filter did not hide the passed task")
	}
	for _, id := range []string{"checks", "crash", "after"} {
		if !visible(t, ctx, `.task[data-task="`+id+`"]`) {
			t.Errorf("the filter hid %s, which did not pass", id)
		}
	}
	if shown != "3 of 4 tasks shown" {
		t.Errorf("counter says %q", shown)
	}
	shot := do(t, ctx, chromedp.FullScreenshot(100))
	os.WriteFile(filepath.Join(t.TempDir(), "report.png"), shot, 0o644)
	if *updateScreenshot {
		if err := os.WriteFile("../docs/report.png", shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

}

// `taskhost report RUNDIR --serve` serves the page on localhost.
func TestReportServe(t *testing.T) {
	r := taskhost(t, "run", job(t, mixedJob))
	dir := r.runDir(t)
	if err := os.Remove(filepath.Join(dir, "report.html")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "taskhost"), "report", "--runs-dir", r.runsDir, dir, "--serve")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("report --serve after an interrupt: %v", err)
		}
	}()
	sc := bufio.NewScanner(out)
	url := ""
	for sc.Scan() {
		line := sc.Text()
		if _, u, ok := strings.Cut(line, "Serving the report on "); ok {
			url, _, _ = strings.Cut(u, " ")
			break
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("no address printed (got %q)", url)
	}
	// Any local user can reach the port: without the URL's secret path,
	// nothing is served.
	hostPort, _, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
	for _, guess := range []string{"/", "/report.html"} {
		resp, err := http.Get("http://" + hostPort + guess)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without the secret path: %s, want 404", guess, resp.Status)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Errorf("report did not write report.html again: %v", err)
	}
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#tree`))); err != nil {
		t.Fatal(err)
	}
	tasks := do(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tree .task").length`))
	if tasks != 4 {
		t.Errorf("served page shows %d tasks, want 4", tasks)
	}
	// One level up, the runs of the runs directory, each linked to its
	// page.
	id := filepath.Base(dir)
	up := strings.TrimSuffix(url, id+"/")
	if err := chromedp.Do(ctx, chromedp.Navigate(up), chromedp.WaitVisible(chromedp.CSS(`table`)),
		chromedp.Click(chromedp.CSS(`a[href="`+id+`/"]`)), chromedp.WaitVisible(chromedp.CSS(`#tree`))); err != nil {
		t.Fatalf("from the runs page %s to the run %s: %v", up, id, err)
	}
}
