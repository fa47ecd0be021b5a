package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aymanbagabas/go-udiff"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/jobfile"
)

type fmtOptions struct {
	check     bool
	diff      bool
	recursive bool
	stdin     io.Reader // os.Stdin when nil
}

// stdinName names standard input in diagnostics and diffs, as terraform
// fmt does.
const stdinName = "<stdin>"

func newFmtCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &fmtOptions{}
	cmd := &cobra.Command{
		Use:   "fmt [-check] [-diff] [-recursive] [PATH...]",
		Short: "Rewrite jobfiles in canonical form",
		Long: `Rewrite jobfiles in the canonical HCL form (indentation, aligned equals
signs, spacing), in place, and list the files changed. A directory stands
for the *.hcl files in it, and with -recursive for those in its
subdirectories too; no PATH is the current directory. A PATH of - reads
standard input and writes it, formatted, to standard output.

With -check, nothing is written: the files that are not in canonical form
are listed, and the exit code is 1 if there is any (for CI). With -diff,
what changes (or would change, with -check) is shown as a unified diff.
A file with a syntax error is reported and left alone; the exit code is
then 2.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			return fmtRun(o, args, stdout, stderr)
		},
	}
	cmd.Flags().BoolVar(&o.check, "check", false, "list the files that are not in canonical form and exit 1 if there is any; change nothing")
	cmd.Flags().BoolVar(&o.diff, "diff", false, "show what changes as a unified diff (-diff works too)")
	cmd.Flags().BoolVar(&o.recursive, "recursive", false, "format the jobfiles in subdirectories too (-recursive works too)")
	return cmd
}

// fmtFiles returns the files that args stand for: a file as it is, a
// directory as its *.hcl files (and those below it, when recursive).
func fmtFiles(args []string, recursive bool) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		if !recursive {
			m, err := filepath.Glob(filepath.Join(a, "*.hcl"))
			if err != nil {
				return nil, err
			}
			files = append(files, m...)
			continue
		}
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != a && d.Name()[0] == '.' {
				return filepath.SkipDir // .git, .terraform and the like
			}
			if d.Type().IsRegular() && filepath.Ext(path) == ".hcl" {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func fmtRun(o *fmtOptions, args []string, stdout, stderr io.Writer) error {
	for _, a := range args {
		if a == "-" && len(args) > 1 {
			return usageErr(fmt.Errorf("fmt -: standard input is formatted alone; give no other path"))
		}
	}
	if args[0] == "-" {
		return fmtStdin(o, stdout, stderr)
	}
	files, err := fmtFiles(args, o.recursive)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	var (
		unformatted int
		broken      hcl.Diagnostics
	)
	srcs := map[string][]byte{}
	for _, f := range files {
		// Within the loader's limits: hclwrite's parser recurses too.
		src, diags := jobfile.ReadSource(f)
		if diags.HasErrors() {
			broken = append(broken, diags...)
			continue
		}
		out, diags := format(src, f)
		if diags.HasErrors() {
			srcs[f] = src
			broken = append(broken, diags...)
			continue
		}
		if bytes.Equal(out, src) {
			continue
		}
		unformatted++
		if o.diff {
			fmt.Fprint(stdout, udiff.Unified(f, f, string(src), string(out)))
		} else {
			fmt.Fprintln(stdout, f)
		}
		if o.check {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return &exitError{exitFailure, err}
		}
		if err := os.WriteFile(f, out, st.Mode().Perm()); err != nil {
			return &exitError{exitFailure, err}
		}
	}
	if len(broken) > 0 {
		_ = jobfile.WriteDiagnostics(stderr, srcs, broken)
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: not formatted", countErrors(broken))}
	}
	if o.check && unformatted > 0 {
		return &exitError{code: exitNotAll, err: fmt.Errorf("%d file(s) not in canonical form; run taskhost fmt", unformatted)}
	}
	return nil
}

// format returns src in canonical form, or the syntax errors that keep it
// from being formatted.
func format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if _, diags := hclwrite.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

// fmtStdin formats standard input to standard output, or with -diff shows
// what would change; with -check, the exit code is 1 if anything would.
func fmtStdin(o *fmtOptions, stdout, stderr io.Writer) error {
	in := o.stdin
	if in == nil {
		in = os.Stdin
	}
	src, err := io.ReadAll(io.LimitReader(in, jobfile.MaxSourceBytes+1))
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("reading standard input: %w", err)}
	}
	if len(src) > jobfile.MaxSourceBytes {
		return usageErr(fmt.Errorf("standard input holds more than %d bytes, the most a jobfile may (docs/jobfile.md, Limits)", jobfile.MaxSourceBytes))
	}
	diags := jobfile.CheckSource(src, stdinName)
	var out []byte
	if !diags.HasErrors() {
		out, diags = format(src, stdinName)
	}
	if diags.HasErrors() {
		_ = jobfile.WriteDiagnostics(stderr, map[string][]byte{stdinName: src}, diags)
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: not formatted", countErrors(diags))}
	}
	if o.diff {
		fmt.Fprint(stdout, udiff.Unified(stdinName, stdinName, string(src), string(out)))
	} else {
		_, _ = stdout.Write(out)
	}
	if o.check && !bytes.Equal(src, out) {
		return &exitError{code: exitNotAll, err: fmt.Errorf("%s is not in canonical form", stdinName)}
	}
	return nil
}
