package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/internal/testfault"
)

// Exit codes, as Easypy's, and one for a bug in taskhost.
//
// A Go runtime fatal error (out of memory, a stack overflow) or a panic
// outside the main goroutine has no exit code: the process aborts with
// SIGABRT (134 in a shell), with every goroutine's stack on stderr (see
// main).
const (
	exitOK      = 0
	exitNotAll  = 1 // some task did not pass
	exitUsage   = 2 // bad command line or jobfile
	exitHook    = 3 // a hook failed
	exitFailure = 4 // anything else
	exitPanic   = 5 // taskhost panicked: a bug
)

// exitCodesHelp lists the exit codes for the help of run and validate.
const exitCodesHelp = `Exit codes: 0 every task passed (Passed, Passx or Skipped); 1 some did not,
or the run was interrupted (SIGINT, SIGTERM); 2 bad command line or jobfile (nothing ran); 3 a hook failed; 4 the run
could not be made (a failed preflight check included: see taskhost doctor);
5 taskhost panicked (a bug: the stack is on stderr). A Go runtime fatal
error (out of memory, a stack overflow) aborts with SIGABRT (134 in a
shell) and every goroutine's stack on stderr.`

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(terraformFlags(args))
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown command or flag.
	fmt.Fprintln(stderr, "Error:", err)
	return exitUsage
}

// terraformFlags accepts -var, -var-file, -check, -diff, -recursive and
// -json with one dash, as Terraform users type them.
func terraformFlags(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "-var" || strings.HasPrefix(a, "-var=") || a == "-var-file" || strings.HasPrefix(a, "-var-file=") ||
			a == "-check" || a == "-diff" || a == "-recursive" || a == "-json" {
			a = "-" + a
		}
		out[i] = a
	}
	return out
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "taskhost",
		Short:         "Run jobfiles of test and network automation tasks, each in its own process",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stdout, stderr), newValidateCmd(stdout, stderr), newPacksCmd(stdout, stderr),
		newResultsCmd(stdout, stderr), newLogsCmd(stdout), newFmtCmd(stdout, stderr), newDoctorCmd(stdout, stderr))
	root.AddCommand(newReportCmd(stdout, stderr))
	root.AddCommand(newAgentCmd(stdout, stderr))
	root.AddCommand(newHubCmd(stdout))
	root.AddCommand(newVersionCmd(stdout))
	addCompletions(root)
	return root
}

// jobOptions are the flags shared by run and validate.
type jobOptions struct {
	agents   agentFlags
	vars     []string
	varFiles []string
	maxTasks int
	maxWork  int
	packsDir string
}

func (o *jobOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.vars, "var", nil, "set a variable: NAME=VALUE (repeatable; -var works too)")
	cmd.Flags().StringArrayVar(&o.varFiles, "var-file", nil, "read variables from a file, HCL or .json, or - for standard input (repeatable; later files win; -var wins over files)")
	cmd.Flags().IntVar(&o.maxTasks, "max-tasks", 0, fmt.Sprintf("the most tasks the jobfile may make (default %d; docs/jobfile.md, Limits)", jobfile.MaxTasks))
	cmd.Flags().IntVar(&o.maxWork, "max-work", 0, fmt.Sprintf("the most steps of work evaluating the jobfile may take, about a microsecond each (default %d)", jobfile.MaxWork))
	addPacksDirFlag(cmd.Flags(), &o.packsDir)
}

func (o *jobOptions) varMap() (map[string]string, error) {
	m := map[string]string{}
	for _, v := range o.vars {
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return nil, &exitError{exitUsage, fmt.Errorf("-var %q: want NAME=VALUE", v)}
		}
		m[name] = val
	}
	return m, nil
}

// validate loads and checks the jobfile, writing diagnostics to stderr.
// For a run, a pack that cannot be started is a warning (its tasks end
// Errored); for validate, an error.
func (o *jobOptions) validate(ctx context.Context, path string, stderr io.Writer, forRun bool) (*plan.Plan, error) {
	p, diags, err := o.makePlan(ctx, path, forRun)
	if err != nil {
		return nil, err
	}
	if len(diags) > 0 {
		_ = jobfile.WriteDiagnostics(stderr, nil, diags)
	}
	if diags.HasErrors() {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s: %s", path, countErrors(diags))}
	}
	return p, nil
}

// makePlan loads and checks the jobfile; err is a bad command line.
func (o *jobOptions) makePlan(ctx context.Context, path string, forRun bool) (*plan.Plan, hcl.Diagnostics, error) {
	vars, err := o.varMap()
	if err != nil {
		return nil, nil, err
	}
	stdin, err := stdinVars(o.varFiles, nil)
	if err != nil {
		return nil, nil, err
	}
	p, diags := plan.Make(ctx, path, plan.Options{
		Jobfile: jobfile.Options{Vars: vars, VarFiles: o.varFiles, Environ: os.Environ(), Stdin: stdin,
			MaxTasks: o.maxTasks, MaxWork: o.maxWork},
		PacksDir: o.packsDir,
		ForRun:   forRun,
		Agents:   o.agents.serves(),
	})
	return p, diags, nil
}

func countErrors(diags hcl.Diagnostics) string {
	n := jobfile.ErrorCount(diags)
	if n == 1 {
		return "1 error"
	}
	return fmt.Sprintf("%d errors", n)
}

type runOptions struct {
	jobOptions
	selectOptions
	failFastOptions
	runsDir      string
	json         bool
	dropEvery    int
	dropInterval time.Duration
	storeWait    time.Duration
	rerun        string
	archive      bool
	archiveDir   string
	quiet        bool
	verbose      bool
	debug        debugFlags
	group        string
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run JOBFILE",
		Short: "Check a jobfile and run its tasks",
		Long: `Check a jobfile and run its tasks, each in a pack process of its own, and
leave a run directory with logs, results.json, junit.xml and report.html.
On a terminal, a live view shows the run as it goes; elsewhere, plain
timestamped lines.

` + exitCodesHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), o, args[0], stdout, stderr)
		},
	}
	o.addFlags(cmd)
	o.agents.addFlags(cmd)
	o.agents.addHubFlags(cmd)
	o.addSelectFlags(cmd)
	o.addFailFastFlags(cmd)
	o.debug.addFlags(cmd)
	cmd.Flags().StringVar(&o.runsDir, "runs-dir", "runs", "directory to make the run directory in")
	cmd.Flags().StringVar(&o.group, "group", "", "let the members of this group (a name or id) read the run directory; by default only this user may")
	cmd.Flags().StringVar(&o.rerun, "rerun", "", "run only the tasks that did not pass in RUN (a run directory, an archive, a run id, or last: the newest run), and what they depend on")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "show only the tasks that did not pass, in the lines and the summary table")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "show each section and step as it ends, too")
	cmd.Flags().BoolVar(&o.archive, "archive", false, "zip the run directory at the end, into --archive-dir/YY-MM/RUN.zip")
	cmd.Flags().StringVar(&o.archiveDir, "archive-dir", "", "where archives go (default: RUNS-DIR/archive)")
	cmd.Flags().DurationVar(&o.storeWait, "store-wait", 0, "how long the run's store may not write (a full disk) before the run stops (default 30s)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print each event of the run as a JSON object, one per line, on stdout (the summary goes to stderr)")
	// A fault for taskhost's own tests of reconnection; hidden from help.
	cmd.Flags().IntVar(&o.dropEvery, "test-fault-drop-every", 0, "drop each task's hub connections after every N of its events, and every state connection after every N state requests (tests only)")
	_ = cmd.Flags().MarkHidden("test-fault-drop-every")
	cmd.Flags().DurationVar(&o.dropInterval, "test-fault-drop-interval", 0, "drop every task's hub connections this often (tests only)")
	_ = cmd.Flags().MarkHidden("test-fault-drop-interval")
	return cmd
}

func runRun(ctx context.Context, o *runOptions, path string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := o.checkVerbosity(); err != nil {
		return err
	}
	if err := o.checkAccess(); err != nil {
		return err
	}
	if err := o.checkFailFast(); err != nil {
		return err
	}
	if err := preflight(o.runsDir, stderr); err != nil {
		return err
	}
	plan, err := o.validate(ctx, path, stderr, true)
	if err != nil {
		return err
	}
	// --rerun first, so that --task narrows and --list prints the rerun.
	if o.rerun != "" {
		if some, err := selectRerun(plan, o.rerun, o.runsDir, summaryOut(o, stdout, stderr)); err != nil || !some {
			return usageErr(err)
		}
	}
	if done, err := o.selectTasks(plan, stdout, stderr); done || err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var interrupted atomic.Bool
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		interrupted.Store(true)
		fmt.Fprintf(stderr, "\n%s: stopping the tasks (again to quit at once)\n", s)
		cancel(fmt.Errorf("interrupted by %s", s))
		if _, ok := <-sigs; ok {
			fmt.Fprintln(stderr, "quitting at once")
			launch.Quit()
			os.Exit(exitNotAll)
		}
	}()
	opts := runner.Options{
		RunsDir:   o.runsDir,
		Out:       stdout,
		Faults:    testfault.Faults{DropEvery: o.dropEvery, DropInterval: o.dropInterval},
		StoreWait: o.storeWait,
		Cmdline:   strings.Join(plan.Job.RedactArgs(os.Args), " "),
		Group:     o.group,
	}
	if opts.Hub, err = o.agents.hubOptions(); err != nil {
		return err
	}
	o.setFailFast(&opts)
	if opts.Agents, err = o.agents.options(); err != nil {
		return err
	}
	if err := o.debug.apply(&opts, plan, stderr); err != nil {
		return err
	}
	for _, id := range []string{opts.Debugging.Debug, opts.Debugging.Interactive} {
		if id != "" && plan.ClassOf[id] != "" {
			return usageErr(fmt.Errorf("task %s is placed on agents: --debug and --interactive run a task on the host only (place it with placement { local = true })", id))
		}
	}
	for _, w := range runner.Warnings(plan, opts) {
		fmt.Fprintln(stderr, "warning:", w)
	}
	summary := stdout
	if o.json {
		enc := json.NewEncoder(stdout)
		opts.Out, summary = nil, stderr
		opts.Events = func(e runner.Event) { _ = enc.Encode(e) }
	}
	view := o.progress(plan, stdout, &opts)
	file, err := runner.Execute(ctx, plan, opts)
	view.Close()
	if pe := (*runner.PlacementError)(nil); errors.As(err, &pe) {
		_ = jobfile.WriteDiagnostics(stderr, nil, pe.Diags)
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %s; nothing ran", path, countErrors(pe.Diags))}
	}
	if file == nil {
		return &exitError{exitFailure, err}
	}
	fmt.Fprintln(summary)
	o.writeSummary(summary, &file.Report)
	fmt.Fprintf(summary, "Run directory: %s\n", file.Report.RunDir)
	if aerr := archiveRun(o, plan, file, summary); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return &exitError{exitFailure, err}
	}
	code := file.Report.ExitCode()
	if code == exitOK && interrupted.Load() {
		// An interrupted run exits with 1 even if every task it ran had
		// passed by then.
		code = exitNotAll
	}
	if code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

func newValidateCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &jobOptions{}
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "validate JOBFILE",
		Short: "Check a jobfile and its tasks' arguments against their packs, without running anything",
		Long: `Check a jobfile and its tasks' arguments against their packs, without running
anything: each problem is printed with its place in the jobfile.

Exit codes: 0 the jobfile is valid; 2 it is not, or the command line is
bad; 5 taskhost panicked (a bug: the stack is on stderr). A Go runtime
fatal error (out of memory, a stack overflow) aborts with SIGABRT (134 in
a shell) and every goroutine's stack on stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if jsonOut {
				return validateJSONRun(o, args[0], stdout)
			}
			plan, err := o.validate(context.Background(), args[0], stderr, false)
			if err != nil {
				return err
			}
			ao, err := o.agents.options()
			if err != nil {
				return err
			}
			if ao != nil && len(plan.Classes) > 0 {
				_, diags, err := runner.CheckAgents(context.Background(), plan, ao, nil)
				if err != nil {
					return &exitError{exitFailure, err}
				}
				if len(diags) > 0 {
					_ = jobfile.WriteDiagnostics(stderr, nil, diags)
					return &exitError{code: exitUsage, err: fmt.Errorf("%s: %s", args[0], countErrors(diags))}
				}
			}
			fmt.Fprintf(stdout, "%s: job %q is valid: %d tasks, %d packs\n", args[0], plan.Job.Name, len(plan.Job.Tasks), len(plan.Job.Packs))
			return nil
		},
	}
	o.addFlags(cmd)
	o.agents.addFlags(cmd)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result and the diagnostics as one JSON object on stdout, in the shape of terraform validate -json")
	return cmd
}

func newResultsCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "results", Short: "Work with the results of past runs"}
	var hubFlags agentFlags
	recover := &cobra.Command{
		Use:   "recover RUNDIR",
		Short: "Rebuild results.json of a run whose host died, from the hub's store in the run directory (or on the NATS cluster it ran on)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var file *results.File
			var err error
			if _, cerr := hub.ReadClusterRecord(filepath.Join(args[0], "hub")); cerr == nil || hubFlags.hub != "" {
				// Its hub was on a cluster: its URLs are those the run
				// used, unless --hub says where the cluster is now.
				var ext *hub.ExternalConfig
				if ext, err = hubFlags.clusterKeys(); err != nil {
					return err
				}
				file, err = runner.RecoverCluster(args[0], *ext)
			} else {
				file, err = runner.Recover(args[0])
			}
			if err != nil {
				return &exitError{exitFailure, err}
			}
			results.WriteSummary(stdout, &file.Report)
			fmt.Fprintf(stdout, "Recovered %s\n", filepath.Join(args[0], "results.json"))
			return nil
		},
	}
	recover.Flags().StringVar(&hubFlags.hub, "hub", "", "for a run whose hub was on a NATS cluster: the nodes' URLs, comma-separated (default: those the run used)")
	recover.Flags().StringVar(&hubFlags.hubCA, "hub-ca", "", "with a cluster: the CA certificate (PEM file) to verify the nodes' TLS certificates against")
	recover.Flags().StringVar(&hubFlags.lab, "lab", "", "with a cluster: the lab directory, whose host key reads the run's record (default $TASKHOST_LAB, else ~/.config/taskhost/lab)")
	cmd.AddCommand(recover, newResultsListCmd(stdout), newResultsShowCmd(stdout))
	return cmd
}
