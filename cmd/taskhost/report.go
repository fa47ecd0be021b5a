package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/archive"
	"github.com/taskhost/taskhost/host/htmlreport"
	"github.com/taskhost/taskhost/host/results"
)

func newReportCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		serve   bool
		addr    string
		runsDir string
	)
	cmd := &cobra.Command{
		Use:   "report RUN",
		Short: "Write a run's report.html and junit.xml again, and serve its run directory if asked",
		Long: `Write report.html in a run directory again from its results.json (and its
log files), and junit.xml with it. An archive is unpacked into --runs-dir
first, unless it is served.

With --serve, serve the run on localhost until interrupted, read-only, at
the address it prints: its report.html, and every file of its run directory
(the logs, junit.xml, results.json); and, one level up, a page listing the
runs of --runs-dir and their archives, each linked. An archive is served
from the archive itself.

` + runRefHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, err := findRun(args[0], runsDir)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			if run.dir == "" && !serve {
				if run.dir, err = unpack(run.archive, runsDir, stdout); err != nil {
					return &exitError{exitFailure, err}
				}
			}
			if run.dir != "" {
				if err := writeReport(run.dir, stdout); err != nil {
					return err
				}
			}
			if !serve {
				return nil
			}
			return serveRuns(cmd.Context(), addr, run, runsDir, stdout)
		},
	}
	cmd.Flags().BoolVar(&serve, "serve", false, "serve the run directory and the list of runs over HTTP on localhost until interrupted")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "address to serve on (port 0: any free port)")
	addRunsDirFlag(cmd, &runsDir)
	return cmd
}

// writeReport writes report.html and junit.xml in the run directory dir
// from its results.json.
func writeReport(dir string, stdout io.Writer) error {
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
	return nil
}

// unpack makes the run directory of the archive zip in runsDir, unless it
// is there already, and returns it.
func unpack(zip, runsDir string, stdout io.Writer) (string, error) {
	dir := filepath.Join(runsDir, strings.TrimSuffix(filepath.Base(zip), ".zip"))
	if _, err := os.Stat(dir); err == nil {
		fmt.Fprintf(stdout, "%s is unpacked already: %s\n", zip, dir)
		return dir, nil
	}
	if err := os.MkdirAll(runsDir, 0o700); err != nil {
		return "", err
	}
	dir, err := archive.Extract(zip, runsDir)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stdout, "Unpacked %s into %s\n", zip, dir)
	return dir, nil
}
