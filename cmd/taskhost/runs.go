package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// openRun reads the results.json of a run given as a run directory, an
// archive of one (.zip), or a run id looked up in runsDir and its
// archives. It returns the record and where it was found.
func openRun(ref, runsDir string) (*results.File, string, error) {
	if strings.HasSuffix(ref, ".zip") {
		f, err := archive.ReadResults(ref)
		return f, ref, err
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		f, err := results.Read(filepath.Join(ref, "results.json"))
		if err != nil {
			return nil, "", fmt.Errorf("%s is not a finished run: %w", ref, err)
		}
		return f, ref, nil
	}
	if strings.ContainsRune(ref, os.PathSeparator) {
		return nil, "", fmt.Errorf("%s: no such run directory or archive", ref)
	}
	dir := filepath.Join(runsDir, ref)
	if f, err := results.Read(filepath.Join(dir, "results.json")); err == nil {
		return f, dir, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if zips, _ := filepath.Glob(filepath.Join(runsDir, archive.DirName, "*", ref+".zip")); len(zips) > 0 {
		f, err := archive.ReadResults(zips[len(zips)-1])
		return f, zips[len(zips)-1], err
	}
	return nil, "", fmt.Errorf("no run %s in %s (give a run directory, an archive, or the id of a run in --runs-dir)", ref, runsDir)
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
		Short: "Print the summary of one run: a run directory, an archive (.zip) or a run id",
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
	cmd.Flags().StringVar(&runsDir, "runs-dir", "runs", "where to look for a run given by id")
	return cmd
}
