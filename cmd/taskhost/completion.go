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
				if cmd.Flags().Lookup(flag) != nil {
					_ = cmd.RegisterFlagCompletionFunc(flag, completeTasks)
				}
			}
			_ = cmd.RegisterFlagCompletionFunc("rerun", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return withPrefix(append([]string{"last"}, runIDs(cmd)...), toComplete), cobra.ShellCompDirectiveDefault
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

// completeTasks completes --task and --skip: the names of the task
// blocks of the jobfile given as argument and the ids of their tasks.
// The jobfile is read as validate reads it, with -var and -var-file,
// without starting its packs.
func completeTasks(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
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
	return withPrefix(taskNames(job), toComplete), cobra.ShellCompDirectiveNoFileComp
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

// completeRunArg completes a RUN argument: the run ids of --runs-dir
// (or of ./runs, for a command without it), newest first, and the
// directories and archives of the file system.
func completeRunArg(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return withPrefix(runIDs(cmd), toComplete), cobra.ShellCompDirectiveDefault
}

// runIDs lists the runs of the command's --runs-dir, newest first.
func runIDs(cmd *cobra.Command) []string {
	dir := "runs"
	if f := cmd.Flags().Lookup("runs-dir"); f != nil {
		dir = f.Value.String()
	}
	runs, _ := archive.List(dir, "")
	ids := make([]string, 0, len(runs))
	for i := len(runs) - 1; i >= 0; i-- {
		ids = append(ids, runs[i].ID)
	}
	return ids
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
