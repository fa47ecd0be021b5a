package main

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/sdk"
)

//go:embed scaffold/*.tmpl
var scaffoldFS embed.FS

// scaffoldFiles maps each template to the file it makes.
var scaffoldFiles = map[string]string{
	"go.mod.tmpl":       "go.mod",
	"main.go.tmpl":      "main.go",
	"hello.go.tmpl":     "hello.go",
	"main_test.go.tmpl": "main_test.go",
	"Makefile.tmpl":     "Makefile",
	"VERSION.tmpl":      "VERSION",
	"gitignore.tmpl":    ".gitignore",
	"example.hcl.tmpl":  "example.hcl",
	"README.md.tmpl":    "README.md",
}

// newOptions are the options of `packs new`.
type newOptions struct {
	Name   string
	Dir    string
	Module string
	// SDK is the taskhost checkout the new module takes the SDK from (a
	// replace directive); empty for the one this taskhost was built from.
	SDK string
	// Lang is the pack's language: "go" (the default) or "python".
	Lang string
	Out  io.Writer
}

func newPacksNewCmd(stdout io.Writer) *cobra.Command {
	o := &newOptions{Out: stdout}
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Make a new pack: a task, its test, and a build of the release archive",
		Long: `Make a new pack module in its own directory (./NAME, or --dir): go.mod
requiring the taskhost SDK, a main with one task, a test of it with
sdk/sdktest, a Makefile whose dist target builds the release archive and
SHA256SUMS, and a jobfile that runs the installed pack. See docs/packs.md.

The SDK module is not published: go.mod takes it from a checkout of
taskhost with a replace directive, by default the checkout this taskhost
was built from (--sdk names another). The next steps it prints build,
test, install and run the pack as they are typed.

With --lang python, a Python pack instead: pack.py with two tasks,
test_pack.py testing them through taskhost (taskhost.sdktest), the
Python SDK copied into taskhost/ (so that it tests and builds with
python3 alone), a Makefile whose build target makes bin/NAME, one
executable file, and a jobfile that runs the installed pack. See
docs/python.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			switch o.Lang {
			case "go", "":
				return packsNewRun(o)
			case "python":
				if o.Module != "" || o.SDK != "" {
					return &exitError{exitUsage, errors.New("--module and --sdk are for Go packs: a Python pack has no module and carries the SDK it was made with")}
				}
				return packsNewPythonRun(o)
			}
			return &exitError{exitUsage, fmt.Errorf("--lang %q: the languages are go and python", o.Lang)}
		},
	}
	cmd.Flags().StringVar(&o.Lang, "lang", "go", "the pack's language: go or python")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "the directory to make (default ./NAME); it must not exist or be empty")
	cmd.Flags().StringVar(&o.Module, "module", "", "the Go module path (default example.com/NAME)")
	cmd.Flags().StringVar(&o.SDK, "sdk", "", "the taskhost checkout to take the SDK from (a replace directive in go.mod; default: the one this taskhost was built from)")
	// The flag's first name, kept for the commands already typed.
	cmd.Flags().StringVar(&o.SDK, "replace", "", "the same as --sdk")
	_ = cmd.Flags().MarkHidden("replace")
	return cmd
}

// checkNewPack checks o's pack name and sets and checks its directory.
func checkNewPack(o *newOptions) error {
	if !jobfile.ValidPackName(o.Name) || strings.ContainsAny(o.Name, ".") {
		return &exitError{exitUsage, fmt.Errorf("%q is not a pack name: use letters, digits, '_' and '-', starting with a letter or digit", o.Name)}
	}
	if o.Dir == "" {
		o.Dir = o.Name
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return &exitError{exitUsage, fmt.Errorf("%s exists and is not empty: choose another --dir", o.Dir)}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &exitError{exitFailure, err}
	}
	return nil
}

func packsNewRun(o *newOptions) error {
	if err := checkNewPack(o); err != nil {
		return err
	}
	if o.Module == "" {
		o.Module = "example.com/" + o.Name
	}
	sdkVersion, replace, err := scaffoldSDK(o.SDK)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	data := struct {
		Name, Module, SDKVersion, GoVersion, Replace, JobName string
	}{
		Name: o.Name, Module: o.Module, SDKVersion: sdkVersion, GoVersion: goVersion(), Replace: replace,
		JobName: strings.ReplaceAll(o.Name, ".", "_") + "_example",
	}
	if err := writeTemplates(o.Dir, scaffoldFS, "scaffold", scaffoldFiles, data); err != nil {
		return err
	}
	th := taskhostCommand()
	fmt.Fprintf(o.Out, `Made the pack %s in %s. Next:

    cd %s
    go mod tidy
    make test
    make dist
    %s packs install dist/%s_0.1.0_%s_%s.tar.gz
    %s packs lock example.hcl
    %s run example.hcl

See docs/packs.md in taskhost for versioning and publishing.
`, o.Name, o.Dir, shellQuote(o.Dir), th, o.Name, runtime.GOOS, runtime.GOARCH, th, th)
	return nil
}

// writeTemplates makes dir and writes into it each template of fsys's
// directory sub as the file files names, executed with data.
func writeTemplates(dir string, fsys fs.FS, sub string, files map[string]string, data any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &exitError{exitFailure, err}
	}
	for tmpl, file := range files {
		t, err := template.ParseFS(fsys, sub+"/"+tmpl)
		if err != nil {
			panic(err) // the templates are part of this binary
		}
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return &exitError{exitFailure, err}
		}
		err = t.Execute(f, data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return &exitError{exitFailure, err}
		}
	}
	return nil
}

// taskhostModule is the module of the SDK (and of this program).
const taskhostModule = "github.com/taskhost/taskhost"

// scaffoldSDK returns the SDK version a new pack requires and the
// taskhost checkout it takes the SDK from (empty for the published
// module). The SDK is not published yet, so a pack builds only from a
// checkout: dir if given, else the one this taskhost was built from,
// which is where its source files were compiled (a taskhost installed
// from a published version requires that version instead).
func scaffoldSDK(dir string) (version, replace string, err error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", "", err
		}
		if !isCheckout(abs) {
			return "", "", fmt.Errorf("--sdk %s: not a taskhost checkout (no go.mod of %s with sdk/doc.go beside it)", dir, taskhostModule)
		}
		return sdk.Version, abs, nil
	}
	// A module fetched by `go install …@version` has a checksum; a build
	// in a checkout has none, whatever version the VCS stamped on it.
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == taskhostModule && bi.Main.Sum != "" {
		return strings.TrimPrefix(bi.Main.Version, "v"), "", nil
	}
	// This file's path as the compiler saw it: in the checkout, unless
	// the build trimmed paths.
	_, file, _, _ := runtime.Caller(0)
	if root := filepath.Dir(filepath.Dir(filepath.Dir(file))); filepath.IsAbs(file) && isCheckout(root) {
		return sdk.Version, root, nil
	}
	return "", "", errors.New("cannot tell which taskhost checkout this taskhost was built from (it was built with -trimpath, or the checkout moved): " +
		"give --sdk DIR, a checkout of taskhost, to take the SDK from; the SDK module is not published")
}

// isCheckout says whether dir holds the taskhost module with its SDK.
func isCheckout(dir string) bool {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.HasPrefix(string(mod), "module "+taskhostModule+"\n") {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "sdk", "doc.go"))
	return err == nil
}

// taskhostCommand is how the next steps name this program: "taskhost"
// when that is what the PATH finds, else the path of this executable, so
// that the steps work as typed.
func taskhostCommand() string {
	self, err := os.Executable()
	if err != nil {
		return "taskhost"
	}
	if found, err := exec.LookPath("taskhost"); err == nil && sameFile(found, self) {
		return "taskhost"
	}
	return shellQuote(self)
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+,:@%=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// goVersion is the go directive for the new module: this Go's major and
// minor version.
func goVersion() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return "1.26"
	}
	minor, _, _ := strings.Cut(parts[1], " ")
	return parts[0] + "." + minor
}
