package main

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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
	Name    string
	Dir     string
	Module  string
	Replace string
	Out     io.Writer
}

func newPacksNewCmd(stdout io.Writer) *cobra.Command {
	o := &newOptions{Out: stdout}
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Make a new pack module: a task, its test, and a build of the release archive",
		Long: `Make a new pack module in its own directory (./NAME, or --dir): go.mod
requiring the taskhost SDK, a main with one task, a test of it with
sdk/sdktest, a Makefile whose dist target builds the release archive and
SHA256SUMS, and a jobfile that runs the installed pack. See docs/packs.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return packsNewRun(o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "the directory to make (default ./NAME); it must not exist or be empty")
	cmd.Flags().StringVar(&o.Module, "module", "", "the Go module path (default example.com/NAME)")
	cmd.Flags().StringVar(&o.Replace, "replace", "", "use the SDK from this local taskhost checkout (a replace directive in go.mod)")
	return cmd
}

func packsNewRun(o *newOptions) error {
	if !jobfile.ValidPackName(o.Name) || strings.ContainsAny(o.Name, ".") {
		return &exitError{exitUsage, fmt.Errorf("%q is not a pack name: use letters, digits, '_' and '-', starting with a letter or digit", o.Name)}
	}
	if o.Dir == "" {
		o.Dir = o.Name
	}
	if o.Module == "" {
		o.Module = "example.com/" + o.Name
	}
	if o.Replace != "" {
		abs, err := filepath.Abs(o.Replace)
		if err != nil {
			return &exitError{exitUsage, err}
		}
		if _, err := os.Stat(filepath.Join(abs, "sdk", "doc.go")); err != nil {
			return &exitError{exitUsage, fmt.Errorf("--replace %s: not a taskhost checkout (no sdk/doc.go)", o.Replace)}
		}
		o.Replace = abs
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return &exitError{exitUsage, fmt.Errorf("%s exists and is not empty: choose another --dir", o.Dir)}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &exitError{exitFailure, err}
	}
	data := struct {
		Name, Module, SDKVersion, GoVersion, Replace, JobName string
	}{
		Name: o.Name, Module: o.Module, SDKVersion: sdk.Version, GoVersion: goVersion(), Replace: o.Replace,
		JobName: strings.ReplaceAll(o.Name, ".", "_") + "_example",
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return &exitError{exitFailure, err}
	}
	for tmpl, file := range scaffoldFiles {
		t, err := template.ParseFS(scaffoldFS, "scaffold/"+tmpl)
		if err != nil {
			panic(err) // the templates are part of this binary
		}
		f, err := os.Create(filepath.Join(o.Dir, file))
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
	fmt.Fprintf(o.Out, `Made the pack %s in %s. Next:

    cd %s
    go mod tidy
    make test
    make dist
    taskhost packs install dist/%s_0.1.0_%s_%s.tar.gz
    taskhost packs lock example.hcl
    taskhost run example.hcl

See docs/packs.md in taskhost for versioning and publishing.
`, o.Name, o.Dir, o.Dir, o.Name, runtime.GOOS, runtime.GOARCH)
	return nil
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
