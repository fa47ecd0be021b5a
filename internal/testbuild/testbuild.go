// Package testbuild builds the programs a package's tests start (pack
// binaries, from their source), once, before the tests run. Test code
// only.
package testbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build builds the Go package pkg (a path relative to the test's
// package, like "../../internal/testpack") into the file out, with env
// added to the environment (e.g. "GOOS=darwin").
func Build(out, pkg string, env ...string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// Main is a TestMain: it builds each program of progs (the package to
// build, by the variable that gets its path) into a temporary directory,
// calls setup with that directory when it is not nil, runs the tests,
// removes the directory and exits with the tests' code. A program that
// does not build, or a setup that fails, ends the process with code 1.
func Main(m *testing.M, progs map[*string]string, setup func(dir string) error) {
	dir, err := os.MkdirTemp("", "taskhost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	for path, pkg := range progs {
		*path = filepath.Join(dir, filepath.Base(pkg))
		if err := Build(*path, pkg); err != nil {
			fail(err)
		}
	}
	if setup != nil {
		if err := setup(dir); err != nil {
			fail(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
