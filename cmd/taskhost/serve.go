package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/taskhost/taskhost/host/archive"
)

// serveRuns serves the run and the runs of runsDir until ctx ends or a
// signal comes: see the help of report.
func serveRuns(ctx context.Context, addr string, run foundRun, runsDir string, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("--addr %q: %w", addr, err)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return &exitError{exitUsage, fmt.Errorf("--addr %q: the report is served on localhost only (127.0.0.1, ::1)", addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &exitError{exitFailure, err}
	}
	// Every local user can connect to a loopback port: everything is
	// under a path of 128 random bits, which only the URL printed here
	// knows, so that it is no more readable than the runs directory.
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return &exitError{exitFailure, err}
	}
	s := &runServer{root: "/" + hex.EncodeToString(key) + "/", runsDir: runsDir, run: run, id: run.id()}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stdout, "Serving the report on http://%s%s%s/ (Ctrl-C to stop)\n", ln.Addr(), s.root, s.id)
	fmt.Fprintf(stdout, "The runs of %s: http://%s%s\n", runsDir, ln.Addr(), s.root)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return &exitError{exitFailure, err}
	}
	return nil
}

// id is the run's id: its directory's or archive's name.
func (r foundRun) id() string {
	if r.dir != "" {
		return filepath.Base(filepath.Clean(r.dir))
	}
	return strings.TrimSuffix(filepath.Base(r.archive), ".zip")
}

// runServer serves, under root, the list of the runs of runsDir at
// root, and each run's files at root/ID/: those of its run directory, or
// else of its archive. Nothing else is served, nothing is written.
type runServer struct {
	root    string
	runsDir string
	run     foundRun // the run named on the command line, maybe outside runsDir
	id      string
}

func (s *runServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, s.root)
	// Nothing but the plain path of a file: no "..", ".", or "//" (the
	// server does not clean paths; no ServeMux here).
	if !ok || (rest != "" && path.Clean("/"+rest) != "/"+strings.TrimSuffix(rest, "/")) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if rest == "" {
		s.serveList(w, r)
		return
	}
	id, file, slash := strings.Cut(rest, "/")
	run, ok := s.find(id)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !slash {
		http.Redirect(w, r, s.root+id+"/", http.StatusFound)
		return
	}
	fsys, closer, err := run.fs()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer closer.Close()
	if file == "" {
		file = "report.html"
	}
	// Only taskhost's own page is HTML: any other file a task left in
	// the run directory is shown as text, whatever its name.
	switch {
	case file == "report.html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	case path.Ext(file) == ".json":
		w.Header().Set("Content-Type", "application/json")
	case path.Ext(file) == ".xml":
		w.Header().Set("Content-Type", "application/xml")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	if strings.HasSuffix(file, "/") {
		w.Header().Del("Content-Type") // a directory's listing
	}
	if file == "report.html" {
		f, err := fsys.Open(file)
		if err != nil {
			http.Error(w, "no report.html (make it with `taskhost report`)", http.StatusNotFound)
			return
		}
		defer f.Close()
		st, _ := f.Stat()
		if rs, ok := f.(io.ReadSeeker); ok && st != nil {
			http.ServeContent(w, r, file, st.ModTime(), rs)
			return
		}
		io.Copy(w, f)
		return
	}
	u := *r.URL
	u.Path, u.RawPath = "/"+file, ""
	r2 := r.Clone(r.Context())
	r2.URL = &u
	http.FileServerFS(fsys).ServeHTTP(w, r2)
}

// find is the run whose id is id: the one named on the command line, or
// one of the runs directory.
func (s *runServer) find(id string) (foundRun, bool) {
	if id == s.id {
		return s.run, true
	}
	runs, _ := archive.List(s.runsDir, "")
	for _, r := range runs {
		if r.ID == id {
			return foundRun{dir: r.Dir, archive: r.Archive}, true
		}
	}
	return foundRun{}, false
}

// fs is the run's files: its run directory's, or else its archive's.
func (r foundRun) fs() (fs.FS, io.Closer, error) {
	if r.dir == "" {
		return archive.Open(r.archive)
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return nil, nil, err
	}
	return plainFS{root}, root, nil
}

// plainFS is a run directory's regular files and directories, none
// outside it (os.Root): a task can leave links, FIFOs and sockets in its
// directory, which are not served.
type plainFS struct{ root *os.Root }

func (p plainFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := p.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !(st.Mode().IsRegular() || st.IsDir()) {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}

var runsPage = template.Must(template.New("runs").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>taskhost runs: {{.Dir}}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;text-align:left;border-bottom:1px solid #ddd}.passed{color:#197a33}.failed,.errored,.aborted,.blocked{color:#b3261e}</style>
</head><body>
<h1>Runs of {{.Dir}}</h1>
{{if .Runs}}<table>
<tr><th>Run</th><th>Result</th><th>Tasks</th><th>Not passed</th><th>Started</th><th>Files</th><th>Where</th></tr>
{{range .Runs}}<tr><td><a href="{{.ID}}/">{{.ID}}</a></td><td class="{{.Result}}">{{.Result}}</td><td>{{.Tasks}}</td><td>{{.NotPassed}}</td><td>{{.Started}}</td><td><a href="{{.ID}}/junit.xml">junit.xml</a> <a href="{{.ID}}/results.json">results.json</a> <a href="{{.ID}}/tasks/">logs</a></td><td>{{.Where}}</td></tr>
{{end}}</table>{{else}}<p>No runs.</p>{{end}}
</body></html>
`))

type runRow struct {
	ID, Result, Started, Where string
	Tasks, NotPassed           int
}

// serveList serves the page of the runs of the runs directory, newest
// first, and the run named on the command line.
func (s *runServer) serveList(w http.ResponseWriter, r *http.Request) {
	runs, err := archive.List(s.runsDir, "")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var rows []runRow
	seen := false
	for i := len(runs) - 1; i >= 0; i-- {
		run := runs[i]
		seen = seen || run.ID == s.id
		row := runRow{ID: run.ID, Result: "(no results.json)", Where: strings.TrimPrefix(run.Dir+", "+run.Archive, ", ")}
		row.Where = strings.TrimSuffix(row.Where, ", ")
		if run.File != nil {
			rep := &run.File.Report
			row.Result = rep.Result.String()
			row.Tasks = rep.Summary.Total
			row.NotPassed = rep.Summary.Total - rep.Summary.Passed - rep.Summary.Passx - rep.Summary.Skipped
			row.Started = rep.StartTime.Local().Format("2006-01-02 15:04:05")
		}
		rows = append(rows, row)
	}
	if !seen {
		rows = append([]runRow{{ID: s.id, Result: "(served)", Where: s.run.where()}}, rows...)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := runsPage.Execute(w, struct {
		Dir  string
		Runs []runRow
	}{s.runsDir, rows}); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
	}
}
