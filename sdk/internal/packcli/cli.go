package packcli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
	"github.com/taskhost/taskhost/sdk/result"
)

// Main is the command line of p, a pack started by hand, with args (the
// command line without the program's name); it returns the exit code.
func Main(p pack.Pack, args []string, stdout, stderr io.Writer) int {
	d := p.Describe()
	usage := func() {
		fmt.Fprintf(stderr, "%s %s: a taskhost task pack.\n\nUsage:\n  %s describe\n  %s run TASK [--json] [--arg key=value]...\n\nTasks:\n",
			d.Name, d.Version, ProgName(), ProgName())
		for _, t := range d.Tasks {
			fmt.Fprintf(stderr, "  %-20s %s\n", t.Name, firstLine(t.Doc))
		}
		fmt.Fprintf(stderr, "\nA host runs this binary as a plugin; see `taskhost run`.\n")
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "describe":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case "run":
		return run(p, &d, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n", args[0])
	usage()
	return 2
}

type argList []string

func (a *argList) String() string     { return strings.Join(*a, " ") }
func (a *argList) Set(v string) error { *a = append(*a, v); return nil }

// run is `PACK run TASK …`.
func run(p pack.Pack, d *pack.Description, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: run TASK [--json] [--arg key=value]...")
		return 2
	}
	td := d.Task(args[0])
	if td == nil {
		fmt.Fprintf(stderr, "pack %s has no task %q (it has: %s)\n", d.Name, args[0], taskNames(d))
		return 2
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var kv argList
	fs.Var(&kv, "arg", "an argument as key=value (repeatable); values of non-string arguments are JSON")
	asJSON := fs.Bool("json", false, "print the result tree as JSON")
	quiet := fs.Bool("q", false, "do not print the result tree (the exit code still tells)")
	eventsFile := fs.String("events", "", "also write each result event to this file, as a JSON line")
	logFile := fs.String("log", "", "log to this file instead of stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	obj := map[string]json.RawMessage{}
	for _, a := range kv {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "--arg %q: want key=value\n", a)
			return 2
		}
		i := -1
		for j := range td.Args {
			if td.Args[j].Name == k {
				i = j
			}
		}
		if i < 0 {
			fmt.Fprintf(stderr, "task %s has no argument %q (it takes %s)\n", td.Name, k, argNames(td.Args))
			return 2
		}
		raw, err := ArgFromText(td.Args[i], v)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		obj[k] = raw
	}
	argsJSON, _ := json.Marshal(obj)
	fn, err := p.Callee(pack.Call{Task: td.Name, ArgsJSON: argsJSON})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, logger, done, err := taskenv.Attach(td.Name, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if env != nil {
		// Started by a task with T.Command: report as part of it.
		r, _ := fn(ctx, env, logger)
		if err := done(); err != nil {
			fmt.Fprintf(stderr, "%s: not every result event was stored by the hub: %v\n", td.Name, err)
			return 1
		}
		return exitCode(r)
	}
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer f.Close()
		logger = hclog.New(&hclog.LoggerOptions{Name: td.Name, Level: hclog.Trace, Output: f})
	}
	em := emit.NewMem()
	if *eventsFile != "" {
		f, err := os.Create(*eventsFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer f.Close()
		em.Sink = bufio.NewWriter(f)
		defer em.Sink.Flush()
	}
	env = &taskenv.Env{TaskID: td.Name, Emit: em, PID: os.Getpid(), Outputs: taskenv.NewOutputs(d.OutputNames(td.Name))}
	r, reason := fn(ctx, env, logger)

	switch {
	case *quiet:
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Task     string                     `json:"task"`
			Result   report.Outcome             `json:"result"`
			Outputs  map[string]json.RawMessage `json:"outputs,omitempty"`
			Sections []*report.Node             `json:"sections"`
		}{td.Name, report.Outcome{Value: r, Reason: reason}, rawOutputs(env.Outputs.Snapshot()), em.Tree.Sections})
	default:
		report.WriteText(stdout, td.Name, r, reason, em.Tree.Sections)
	}
	return exitCode(r)
}

// RunChild runs fn as the main of a program that a task started with
// T.Command, as part of that task; started any other way, fn runs on its
// own and its result tree is printed to stdout. It returns the exit code.
func RunChild(ctx context.Context, name string, fn pack.Func, stdout, stderr io.Writer) int {
	env, logger, done, err := taskenv.Attach(name, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if env == nil {
		em := emit.NewMem()
		env = &taskenv.Env{TaskID: name, Emit: em, PID: os.Getpid()}
		r, reason := fn(ctx, env, logger)
		report.WriteText(stdout, name, r, reason, em.Tree.Sections)
		return exitCode(r)
	}
	r, _ := fn(ctx, env, logger)
	if err := done(); err != nil {
		fmt.Fprintf(stderr, "%s: not every result event was stored by the hub: %v\n", name, err)
		return 1
	}
	return exitCode(r)
}

// exitCode is 0 for a success, 1 otherwise.
func exitCode(r result.Result) int {
	if r.Success() {
		return 0
	}
	return 1
}

func rawOutputs(m map[string][]byte) map[string]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ArgFromText turns a --arg value typed by hand into JSON: a string
// argument takes the text as it is; any other is read as JSON.
func ArgFromText(a pack.ArgInfo, text string) (json.RawMessage, error) {
	ty, err := ctyjson.UnmarshalType(a.Type)
	if err != nil {
		return nil, fmt.Errorf("argument %q has a bad type %s: %w", a.Name, a.Type, err)
	}
	if ty == cty.String {
		return json.Marshal(text)
	}
	if !json.Valid([]byte(text)) {
		if ty == cty.DynamicPseudoType {
			return json.Marshal(text)
		}
		return nil, fmt.Errorf("argument %q wants %s; %q is not JSON", a.Name, ty.FriendlyName(), text)
	}
	return json.RawMessage(text), nil
}

func argNames(args []pack.ArgInfo) string {
	if len(args) == 0 {
		return "no arguments"
	}
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

func taskNames(d *pack.Description) string {
	names := make([]string, len(d.Tasks))
	for i, t := range d.Tasks {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// ProgName is the name this program was started as, without its
// directory.
func ProgName() string {
	if len(os.Args) > 0 {
		return filepath.Base(os.Args[0])
	}
	return "pack"
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
