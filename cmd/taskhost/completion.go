package main

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/archive"
	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/packs"
)

// addCompletions gives the commands' arguments and flags their dynamic
// completions, for cobra's completion command (bash, zsh, fish,
// powershell): the task ids and names of the jobfile argument for --task
// and --skip, the run ids of --runs-dir for a RUN, and the installed
// packs for a pack NAME.
func addCompletions(root *cobra.Command) {
	for _, cmd := range root.Commands() {
		switch cmd.Name() {
		case "run":
			for _, flag := range []string{"task", "skip"} {
				_ = cmd.RegisterFlagCompletionFunc(flag, completeTasks(taskNames))
			}
			for _, flag := range []string{"debug", "interactive"} {
				_ = cmd.RegisterFlagCompletionFunc(flag, completeTasks(taskIDs))
			}
			_ = cmd.RegisterFlagCompletionFunc("rerun", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return completeRunArg(cmd, nil, toComplete)
			})
		case "logs", "report":
			cmd.ValidArgsFunction = completeRunArg
		case "results":
			for _, sub := range cmd.Commands() {
				if sub.Name() == "show" {
					sub.ValidArgsFunction = completeRunArg
				}
			}
		case "packs":
			for _, sub := range cmd.Commands() {
				switch sub.Name() {
				case "describe":
					sub.ValidArgsFunction = completePacks(false)
				case "remove":
					sub.ValidArgsFunction = completePacks(true)
				}
			}
		}
	}
}

// completeTasks completes a flag that names tasks of the jobfile given as
// argument: what names lists (taskNames for --task and --skip, taskIDs
// for --debug). The jobfile is read as validate reads it, with -var and
// -var-file, without starting its packs.
func completeTasks(names func(*jobfile.Job) []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return jobTaskNames(cmd, args, names, toComplete)
	}
}

func jobTaskNames(cmd *cobra.Command, args []string, names func(*jobfile.Job) []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	opts := jobfile.Options{Environ: os.Environ()}
	if vars, err := cmd.Flags().GetStringArray("var"); err == nil {
		opts.Vars = map[string]string{}
		for _, v := range vars {
			if name, val, ok := strings.Cut(v, "="); ok {
				opts.Vars[name] = val
			}
		}
	}
	if files, err := cmd.Flags().GetStringArray("var-file"); err == nil && !slices.Contains(files, "-") {
		opts.VarFiles = files
	}
	job, _ := jobfile.LoadWith(args[0], opts)
	if job == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return withPrefix(names(job), toComplete), cobra.ShellCompDirectiveNoFileComp
}

// taskNames lists each task block's name, then the ids of its tasks
// when they are not the name itself, in the order of the jobfile.
func taskNames(job *jobfile.Job) []string {
	var names []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	for _, t := range job.Tasks {
		base, _, _ := strings.Cut(t.ID, "[")
		add(base)
		add(t.ID)
	}
	return names
}

// taskIDs lists the ids of the job's tasks, in the order of the jobfile.
func taskIDs(job *jobfile.Job) []string {
	ids := make([]string, len(job.Tasks))
	for i, t := range job.Tasks {
		ids[i] = t.ID
	}
	return ids
}

// completeRunArg completes a RUN argument: last and the run ids of
// --runs-dir, newest first, and the files of the file system (a run
// directory, an archive).
func completeRunArg(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return withPrefix(append([]string{lastRun}, runIDs(cmd)...), toComplete), cobra.ShellCompDirectiveDefault
}

// runIDs lists the ids of the runs of the command's --runs-dir, newest
// first.
func runIDs(cmd *cobra.Command) []string {
	var ids []string
	for _, r := range newestRuns(cmd) {
		ids = append(ids, r.ID)
	}
	return ids
}

// newestRuns lists the runs of the command's --runs-dir, newest first.
func newestRuns(cmd *cobra.Command) []*archive.Run {
	dir := "runs"
	if f := cmd.Flags().Lookup("runs-dir"); f != nil {
		dir = f.Value.String()
	}
	runs, _ := archive.List(dir, "")
	slices.Reverse(runs)
	return runs
}

// completePacks completes a pack NAME from the packs directory; with
// versions, NAME@VERSION.
func completePacks(versions bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		d := packs.Dir{}
		if f := cmd.Flags().Lookup("packs-dir"); f != nil {
			d.Root = f.Value.String()
		}
		all, _ := d.List()
		var names []string
		for _, in := range all {
			n := in.Name
			if versions {
				n += "@" + in.Version
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		// describe also takes a path to a pack file.
		dir := cobra.ShellCompDirectiveNoFileComp
		if !versions {
			dir = cobra.ShellCompDirectiveDefault
		}
		return withPrefix(names, toComplete), dir
	}
}

// withPrefix keeps the candidates that begin with prefix.
func withPrefix(candidates []string, prefix string) []string {
	return slices.DeleteFunc(candidates, func(c string) bool { return !strings.HasPrefix(c, prefix) })
}
