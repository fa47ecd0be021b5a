package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/htmlreport"
	"github.com/taskhost/taskhost/host/results"
)

func newReportCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		serve bool
		addr  string
	)
	cmd := &cobra.Command{
		Use:   "report RUNDIR",
		Short: "Write the run directory's report.html again, and serve it if asked",
		Long: `Write report.html in a run directory again from its results.json (and its
log files), and junit.xml with it. With --serve, serve the report on
localhost until interrupted: open the address it prints.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			f, err := results.Read(filepath.Join(dir, "results.json"))
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("%s: no results.json (run `taskhost results recover` after a crash): %w", dir, err)}
			}
			page := filepath.Join(dir, "report.html")
			if err := htmlreport.Write(page, dir, f); err != nil {
				return &exitError{exitFailure, err}
			}
			if err := results.WriteJUnit(filepath.Join(dir, "junit.xml"), dir, f); err != nil {
				return &exitError{exitFailure, err}
			}
			fmt.Fprintf(stdout, "Wrote %s\n", page)
			if !serve {
				return nil
			}
			return serveReport(cmd.Context(), addr, page, stdout)
		},
	}
	cmd.Flags().BoolVar(&serve, "serve", false, "serve the report over HTTP on localhost until interrupted")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to serve on (port 0: any free port)")
	return cmd
}

// serveReport serves the page at / until ctx ends or a signal comes.
func serveReport(ctx context.Context, addr, page string, stdout io.Writer) error {
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
	// Every local user can connect to a loopback port: the page is at a
	// path of 128 random bits, which only the URL printed here knows, so
	// that it is no more readable than the run directory.
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return &exitError{exitFailure, err}
	}
	root := "/" + hex.EncodeToString(key) + "/"
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != root && r.URL.Path != root+"report.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeFile(w, r, page)
	})
	srv := &http.Server{Handler: mux}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stdout, "Serving the report on http://%s%s (Ctrl-C to stop)\n", ln.Addr(), root)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return &exitError{exitFailure, err}
	}
	return nil
}
