package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/archive"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/results"
)

// lastRun names the newest run of the runs directory, wherever a run is
// named.
const lastRun = "last"

// runRefHelp says how a run is named, for the help of every command that
// takes one.
const runRefHelp = `RUN is a run directory, an archive of one (.zip), the id of a run in
--runs-dir (a directory there, or an archive in its archive/), or last:
the newest run there.`

// foundRun is where a run named on the command line is: a run directory,
// or else an archive.
type foundRun struct {
	dir, archive string
}

// findRun finds the run ref names: a run directory, an archive of one
// (.zip), "last" (the newest finished run in runsDir), or a run id looked
// up in runsDir and then in its archives.
func findRun(ref, runsDir string) (foundRun, error) {
	if ref == lastRun {
		runs, err := archive.List(runsDir, "")
		if err != nil {
			return foundRun{}, err
		}
		for i := len(runs) - 1; i >= 0; i-- {
			if r := runs[i]; r.File != nil {
				return foundRun{dir: r.Dir, archive: r.Archive}, nil
			}
		}
		if len(runs) > 0 {
			return foundRun{}, fmt.Errorf("no finished run in %s: %q names the newest run there with a results.json (`taskhost results recover` makes one after a crash)", runsDir, lastRun)
		}
		return foundRun{}, fmt.Errorf("no run in %s: %q names the newest run there (give another --runs-dir, a run directory or an archive)", runsDir, lastRun)
	}
	if strings.HasSuffix(ref, ".zip") {
		if _, err := os.Stat(ref); err != nil {
			return foundRun{}, fmt.Errorf("no archive %s: %w", ref, err)
		}
		return foundRun{archive: ref}, nil
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		return foundRun{dir: ref}, nil
	}
	if strings.ContainsRune(ref, os.PathSeparator) || ref == "." || ref == ".." {
		return foundRun{}, fmt.Errorf("%s: no such run directory or archive", ref)
	}
	dir := filepath.Join(runsDir, ref)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return foundRun{dir: dir}, nil
	}
	if zips, _ := filepath.Glob(filepath.Join(runsDir, archive.DirName, "*", ref+".zip")); len(zips) > 0 {
		return foundRun{archive: zips[len(zips)-1]}, nil
	}
	return foundRun{}, fmt.Errorf("no run %s in %s (give a run directory, an archive, the id of a run in --runs-dir, or %s)", ref, runsDir, lastRun)
}

// where says where the run was found.
func (r foundRun) where() string {
	if r.dir != "" {
		return r.dir
	}
	return r.archive
}

// results reads the run's results.json.
func (r foundRun) results() (*results.File, error) {
	if r.dir == "" {
		return archive.ReadResults(r.archive)
	}
	f, err := results.Read(filepath.Join(r.dir, "results.json"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a finished run: %w", r.dir, err)
	}
	return f, nil
}

// openRun reads the results.json of the run ref names (see findRun). It
// returns the record and where it was found.
func openRun(ref, runsDir string) (*results.File, string, error) {
	r, err := findRun(ref, runsDir)
	if err != nil {
		return nil, "", err
	}
	f, err := r.results()
	return f, r.where(), err
}

// runDirOf finds the run ref names as a directory, and where it was
// found: an archive is unpacked into a temporary directory that done
// removes.
func runDirOf(ref, runsDir string) (dir, where string, done func(), err error) {
	r, err := findRun(ref, runsDir)
	if err != nil {
		return "", "", nil, err
	}
	if r.dir != "" {
		return r.dir, r.dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "taskhost-run-")
	if err != nil {
		return "", "", nil, err
	}
	done = func() { os.RemoveAll(tmp) }
	dir, err = archive.Extract(r.archive, tmp)
	if err != nil {
		done()
		return "", "", nil, err
	}
	return dir, r.archive, done, nil
}

// addRunsDirFlag adds --runs-dir for a command that reads past runs.
func addRunsDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "runs-dir", "runs", "where to look for a run given by id or as last")
}

// archiveRun zips the run directory if the command line or the jobfile
// asks for it, and says where the archive is.
func archiveRun(o *runOptions, plan *plan.Plan, file *results.File, w io.Writer) error {
	if !o.archive && !plan.Job.Archive {
		return nil
	}
	dir := o.archiveDir
	if dir == "" {
		dir = filepath.Join(o.runsDir, archive.DirName)
	}
	name := archive.Path(dir, file.Report.RunDir, file.Report.StartTime)
	if err := archive.Zip(name, file.Report.RunDir); err != nil {
		return &exitError{exitFailure, err}
	}
	fmt.Fprintf(w, "Archive: %s\n", name)
	return nil
}

func newResultsListCmd(stdout io.Writer) *cobra.Command {
	var runsDir, archiveDir string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List past runs (run directories and archives) with their results",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			runs, err := archive.List(runsDir, archiveDir)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			if len(runs) == 0 {
				fmt.Fprintf(stdout, "No runs in %s\n", runsDir)
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tRESULT\tTASKS\tPASSED\tNOT PASSED\tSTARTED\tDURATION\tWHERE")
			for _, r := range runs {
				where := r.Dir
				if r.Archive != "" {
					if where != "" {
						where += ", "
					}
					where += r.Archive
				}
				if r.File == nil {
					fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t%s\n", r.ID, "(no results.json)", where)
					continue
				}
				rep := &r.File.Report
				s := rep.Summary
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.ID, strings.ToUpper(rep.Result.String()), s.Total,
					s.Passed+s.Passx+s.Skipped, s.Total-s.Passed-s.Passx-s.Skipped,
					rep.StartTime.Local().Format("2006-01-02 15:04:05"),
					time.Duration(rep.Runtime*float64(time.Second)).Round(time.Millisecond), where)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&runsDir, "runs-dir", "runs", "the directory of run directories (and of archive/)")
	cmd.Flags().StringVar(&archiveDir, "archive-dir", "", "another directory of archives to list (run --archive-dir)")
	return cmd
}

func newResultsShowCmd(stdout io.Writer) *cobra.Command {
	var runsDir string
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Print the summary of one run: a run directory, an archive (.zip), a run id or last",
		Long:  "Print the summary of one run, and where it was read from.\n\n" + runRefHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, where, err := openRun(args[0], runsDir)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			results.WriteSummary(stdout, &f.Report)
			fmt.Fprintf(stdout, "Run %s, from %s\n", f.Report.ID, where)
			return nil
		},
	}
	addRunsDirFlag(cmd, &runsDir)
	return cmd
}
