package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/taskhost/taskhost/sdk/python"
)

//go:embed scaffold/python/*.tmpl
var scaffoldPythonFS embed.FS

// scaffoldPythonFiles maps each template of a Python pack to the file it makes.
var scaffoldPythonFiles = map[string]string{
	"pack.py.tmpl":      "pack.py",
	"test_pack.py.tmpl": "test_pack.py",
	"Makefile.tmpl":     "Makefile",
	"README.md.tmpl":    "README.md",
	"example.hcl.tmpl":  "example.hcl",
	"gitignore.tmpl":    ".gitignore",
}

// packsNewPythonRun makes a Python pack: the templates, and the SDK this
// taskhost embeds in taskhost/.
func packsNewPythonRun(o *newOptions) error {
	if err := checkNewPack(o); err != nil {
		return err
	}
	data := struct{ Name, JobName string }{Name: o.Name, JobName: strings.ReplaceAll(o.Name, "-", "_") + "_example"}
	if err := writeTemplates(o.Dir, scaffoldPythonFS, "scaffold/python", scaffoldPythonFiles, data); err != nil {
		return err
	}
	if err := vendorPythonSDK(filepath.Join(o.Dir, "taskhost")); err != nil {
		return &exitError{exitFailure, err}
	}
	th := taskhostCommand()
	test := "make test"
	if th != "taskhost" {
		test = "TASKHOST=" + th + " make test"
	}
	fmt.Fprintf(o.Out, `Made the Python pack %s in %s. Next:

    cd %s
    %s
    make build
    %s packs install bin/%s
    %s packs lock example.hcl
    %s run example.hcl

See docs/python.md in taskhost for the SDK, testing and shipping.
`, o.Name, o.Dir, shellQuote(o.Dir), test, th, o.Name, th, th)
	return nil
}

// vendorPythonSDK writes the embedded Python SDK's modules into dir.
func vendorPythonSDK(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sdk := python.SDK()
	names, err := fs.Glob(sdk, "taskhost/*.py")
	if err != nil {
		panic(err) // a fixed pattern
	}
	for _, name := range names {
		b, err := fs.ReadFile(sdk, name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
