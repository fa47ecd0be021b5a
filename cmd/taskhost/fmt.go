package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/jobfile"
)

type fmtOptions struct {
	check bool
}

func newFmtCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &fmtOptions{}
	cmd := &cobra.Command{
		Use:   "fmt [-check] PATH...",
		Short: "Rewrite jobfiles in canonical form",
		Long: `Rewrite jobfiles in the canonical HCL form (indentation, aligned equals
signs, spacing), in place. A directory stands for the *.hcl files in it.

With -check, nothing is written: the files that are not in canonical form
are listed, and the exit code is 1 if there is any (for CI). A file with a
syntax error is reported and left alone; the exit code is then 2.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmtRun(o, args, stdout, stderr)
		},
	}
	cmd.Flags().BoolVar(&o.check, "check", false, "list the files that are not in canonical form and exit 1 if there is any; change nothing")
	return cmd
}

func fmtRun(o *fmtOptions, args []string, stdout, stderr io.Writer) error {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return &exitError{exitUsage, err}
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.hcl"))
		if err != nil {
			return &exitError{exitUsage, err}
		}
		files = append(files, m...)
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
		_, diags = hclwrite.ParseConfig(src, f, hcl.InitialPos)
		if diags.HasErrors() {
			srcs[f] = src
			broken = append(broken, diags...)
			continue
		}
		out := hclwrite.Format(src)
		if bytes.Equal(out, src) {
			continue
		}
		unformatted++
		fmt.Fprintln(stdout, f)
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
