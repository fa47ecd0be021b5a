package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
)

func newLogsCmd(stdout io.Writer) *cobra.Command {
	var runsDir string
	cmd := &cobra.Command{
		Use:   "logs RUN [TASK [STEP]]",
		Short: "Print the logs of a run, of one task, or of one step",
		Long: `Print the logs of a run: with no TASK, job.log and then every task's logs;
with TASK, its task.log and the log of each process it started
(pid-<pid>.log); with STEP (an id such as 2.1, as in results.json), only
that step's lines.

` + runRefHelp,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, where, done, err := runDirOf(args[0], runsDir)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			defer done()
			if err := printLogs(stdout, dir, args[1:]); err != nil {
				if dir != where {
					// An archive's temporary directory means nothing to the user.
					err = errors.New(strings.ReplaceAll(err.Error(), dir, where))
				}
				return &exitError{exitUsage, err}
			}
			return nil
		},
	}
	addRunsDirFlag(cmd, &runsDir)
	return cmd
}

func printLogs(w io.Writer, runDir string, args []string) error {
	if _, err := os.Stat(filepath.Join(runDir, "job.log")); err != nil {
		return fmt.Errorf("%s is not a run directory: %w", runDir, err)
	}
	if len(args) == 0 {
		if err := cat(w, runDir, "job.log", true); err != nil {
			return err
		}
		tasks, _ := os.ReadDir(filepath.Join(runDir, "tasks"))
		for _, t := range tasks {
			if err := printTaskLogs(w, runDir, t.Name()); err != nil {
				return err
			}
		}
		return nil
	}
	task := args[0]
	if len(args) == 1 {
		return printTaskLogs(w, runDir, task)
	}
	f, err := results.Read(filepath.Join(runDir, "results.json"))
	if err != nil {
		return fmt.Errorf("a step's lines need results.json (run `taskhost results recover` after a crash): %w", err)
	}
	for _, t := range f.Report.Tasks {
		if t.ID != task {
			continue
		}
		n := findNode(t.Sections, args[1])
		if n == nil {
			return fmt.Errorf("task %s has no step %s", task, args[1])
		}
		if n.Logs == nil {
			return fmt.Errorf("step %s of task %s has no log lines on record", args[1], task)
		}
		b, err := readLog(runDir, results.TaskDir(task), n.Logs.File)
		if err != nil {
			return err
		}
		end := n.Logs.Begin + n.Logs.Size
		if n.Logs.Begin < 0 || end > int64(len(b)) {
			return fmt.Errorf("step %s: log range %d+%d is outside %s", args[1], n.Logs.Begin, n.Logs.Size, n.Logs.File)
		}
		_, err = w.Write(b[n.Logs.Begin:end])
		return err
	}
	return fmt.Errorf("no task %s in %s%s", task, runDir, runTaskSuggestion(runDir, task))
}

func printTaskLogs(w io.Writer, runDir, task string) error {
	dir := filepath.Join(runDir, "tasks", task)
	if _, err := os.Stat(dir); err != nil {
		if s := runTaskSuggestion(runDir, task); s != "" {
			return fmt.Errorf("no task %s in %s%s", task, runDir, s)
		}
		return fmt.Errorf("task %s has no logs in %s (it never started, or there is no such task)", task, runDir)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "pid-*.log"))
	sort.Strings(files)
	tdir := results.TaskDir(task)
	if err := catLog(w, runDir, tdir, filepath.Join(tdir, "task.log")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, f := range files {
		rel, _ := filepath.Rel(runDir, f)
		if err := catLog(w, runDir, tdir, rel); err != nil {
			return err
		}
	}
	return nil
}

// readLog reads a log file of the task whose directory is dir: only a
// file in that directory (results.OpenLog; a task can make links there).
func readLog(runDir, dir, rel string) ([]byte, error) {
	f, err := results.OpenLog(runDir, dir, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// catLog writes a log file of a task under a header.
func catLog(w io.Writer, runDir, dir, rel string) error {
	b, err := readLog(runDir, dir, rel)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "==> %s <==\n", rel)
	_, err = w.Write(b)
	return err
}

// cat writes a file of the run directory, under a header if asked.
func cat(w io.Writer, runDir, rel string, header bool) error {
	b, err := os.ReadFile(filepath.Join(runDir, rel))
	if err != nil {
		return err
	}
	if header {
		fmt.Fprintf(w, "==> %s <==\n", rel)
	}
	_, err = w.Write(b)
	return err
}

func findNode(ns []*report.Node, id string) *report.Node {
	for _, n := range ns {
		if n.ID == id {
			return n
		}
		if m := findNode(n.Sections, id); m != nil {
			return m
		}
	}
	return nil
}
