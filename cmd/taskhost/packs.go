package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/packs"
)

// addPacksDirFlag adds --packs-dir.
func addPacksDirFlag(fs *pflag.FlagSet, dir *string) {
	fs.StringVar(dir, "packs-dir", "", "the packs directory (default $"+packs.EnvDir+", or the nearest .taskhost/packs at or above the jobfile's directory, or else the current directory)")
}

func newPacksCmd(stdout, stderr io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "packs",
		Short: "Install, pin, check and write task packs",
		Long: `Install, pin, check and write task packs.

Installed packs live in the packs directory: --packs-dir, or $` + packs.EnvDir + `,
or else the nearest .taskhost/packs at or above the jobfile's directory
(for run, validate, packs lock and packs verify JOBFILE, which find the
lock file there too) or the current directory (for the other commands);
one directory per pack, version and platform (NAME/VERSION/OS_ARCH). See
docs/packs.md.`,
	}
	addPacksDirFlag(cmd.PersistentFlags(), &dir)
	d := func() packs.Dir { return packs.Dir{Root: dir} }
	cmd.AddCommand(
		newPacksInstallCmd(d, stdout),
		newPacksListCmd(d, stdout),
		newPacksDescribeCmd(d, stdout),
		newPacksVerifyCmd(d, &dir, stdout, stderr),
		newPacksRemoveCmd(d, stdout),
		newPacksLockCmd(d, stdout, stderr),
		newPacksNewCmd(stdout),
	)
	return cmd
}

func newPacksInstallCmd(d func() packs.Dir, stdout io.Writer) *cobra.Command {
	var o packs.InstallOptions
	cmd := &cobra.Command{
		Use:   "install SOURCE",
		Short: "Install a pack binary or release archive (.tar.gz, .zip) into the packs directory",
		Long: `Install a pack binary or release archive (.tar.gz, .tgz or .zip) into the
packs directory.

An archive must be listed in a SHA256SUMS file (the one beside it, or
--sums), and its SHA-256 must match. A bare binary is checked the same way
when a SHA256SUMS beside it lists it. The binary is started to read its
name and version, and goes to NAME/VERSION/OS_ARCH. A bad checksum, a
program that is not a pack, or an archive entry that would land outside the
directory (../, an absolute path, a link) is refused, and nothing is left
behind.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := d().Install(context.Background(), args[0], o)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			how := "not checked: no SHA256SUMS lists it"
			if res.Verified {
				how = "checked against SHA256SUMS"
			}
			verb := "Installed"
			if res.Already {
				verb = "Already installed"
			}
			fmt.Fprintf(stdout, "%s %s %s (%s) in %s\nSHA-256 %s (%s)\n", verb, res.Name, res.Version, res.Platform, res.Path, res.SHA256, how)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Sums, "sums", "", "the SHA256SUMS file that lists SOURCE (default: the one beside it)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an installed version whose binary differs")
	return cmd
}

func newPacksListCmd(d func() packs.Dir, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the installed packs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := d().List()
			if err != nil {
				return &exitError{exitFailure, err}
			}
			if asJSON {
				if all == nil {
					all = []*packs.Installed{}
				}
				b, _ := json.MarshalIndent(all, "", "  ")
				fmt.Fprintln(stdout, string(b))
				return nil
			}
			if len(all) == 0 {
				fmt.Fprintln(stdout, "No packs installed in", packsRoot(d()))
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tPLATFORM\tPROTOCOL\tSDK\tSHA-256")
			for _, in := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", in.Name, in.Version, in.Platform, in.ProtocolVersions, in.SDKVersion, in.SHA256[:min(16, len(in.SHA256))])
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

func packsRoot(d packs.Dir) string {
	if d.Root == "" {
		return packs.DefaultDir()
	}
	return d.Root
}

func newPacksDescribeCmd(d func() packs.Dir, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME[@VERSION] | PATH",
		Short: "Start a pack and print its description as JSON",
		Long: `Start a pack and print its description as JSON: an installed pack by name
(the newest version, or NAME@VERSION), or a pack binary by path (an
argument with a slash in it, or a file in this directory that is not an
installed pack's name).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if !strings.Contains(path, "/") {
				in, err := findInstalled(d(), path)
				if st, serr := os.Stat(path); err != nil && serr == nil && !st.IsDir() {
					in, err = &packs.Installed{Path: "./" + path}, nil // a binary in this directory, not one on $PATH
				}
				if err != nil {
					return &exitError{exitFailure, err}
				}
				path = in.Path
			}
			desc, err := launch.Describe(context.Background(), launch.Config{Path: path})
			if err != nil {
				return &exitError{exitFailure, err}
			}
			b, err := json.MarshalIndent(desc, "", "  ")
			if err != nil {
				return &exitError{exitFailure, err}
			}
			fmt.Fprintln(stdout, string(b))
			return nil
		},
	}
}

// findInstalled finds NAME (newest) or NAME@VERSION for this platform.
func findInstalled(d packs.Dir, arg string) (*packs.Installed, error) {
	name, ver, ok := strings.Cut(arg, "@")
	if ok {
		return d.Find(name, ver)
	}
	return d.Newest(name, nil)
}

func newPacksVerifyCmd(d func() packs.Dir, dir *string, stdout, stderr io.Writer) *cobra.Command {
	o := &jobOptions{}
	cmd := &cobra.Command{
		Use:   "verify [JOBFILE]",
		Short: "Check installed binaries against their recorded SHA-256, or a jobfile's packs against its lock",
		Long: `Without a jobfile: check that every installed pack binary still has the
SHA-256 it was installed with. With a jobfile: check each of its packs
against taskhost.lock.hcl beside it, as run does before any task starts.
Exit code 1 when something does not match.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return verifyJob(d(), o, args[0], stdout, stderr)
			}
			all, err := d().List()
			if err != nil {
				return &exitError{exitFailure, err}
			}
			bad := 0
			for _, in := range all {
				got, err := launch.HexSHA256(in.Path)
				switch {
				case err != nil:
					bad++
					fmt.Fprintf(stdout, "FAIL %s %s (%s): %v\n", in.Name, in.Version, in.Platform, err)
				case got != in.SHA256:
					bad++
					fmt.Fprintf(stdout, "FAIL %s %s (%s): %s has SHA-256 %s, installed with %s\n", in.Name, in.Version, in.Platform, in.Path, got, in.SHA256)
				default:
					fmt.Fprintf(stdout, "ok   %s %s (%s) %s\n", in.Name, in.Version, in.Platform, got)
				}
			}
			if bad > 0 {
				return &exitError{exitNotAll, fmt.Errorf("%d of %d installed packs do not match", bad, len(all))}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&o.vars, "var", nil, "set a variable of the jobfile: NAME=VALUE (repeatable)")
	return cmd
}

func verifyJob(d packs.Dir, o *jobOptions, path string, stdout, stderr io.Writer) error {
	vars, err := o.varMap()
	if err != nil {
		return err
	}
	job, diags := jobfile.Load(path, vars)
	if !diags.HasErrors() {
		diags = append(diags, packs.Resolve(job, d)...)
	}
	if len(diags) > 0 {
		_ = jobfile.WriteDiagnostics(stderr, nil, diags)
	}
	if diags.HasErrors() {
		return &exitError{exitNotAll, fmt.Errorf("%s: %s", path, countErrors(diags))}
	}
	for _, p := range job.Packs {
		if p.SHA256 == nil {
			fmt.Fprintf(stdout, "--   %s %s (not pinned: no lock file)\n", p.Name, p.Path)
			continue
		}
		fmt.Fprintf(stdout, "ok   %s %s %x\n", p.Name, p.Path, p.SHA256)
	}
	return nil
}

func newPacksRemoveCmd(d func() packs.Dir, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME@VERSION",
		Short: "Remove an installed version of a pack (every platform of it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ver, ok := strings.Cut(args[0], "@")
			if !ok || name == "" || ver == "" {
				return &exitError{exitUsage, fmt.Errorf("remove %q: want NAME@VERSION, such as net@1.2.0 (`taskhost packs list` shows them)", args[0])}
			}
			if err := d().Remove(name, ver); err != nil {
				code := exitFailure
				if errors.Is(err, packs.ErrNotInstalled) {
					code = exitNotAll
				}
				return &exitError{code, err}
			}
			fmt.Fprintf(stdout, "Removed %s %s\n", name, ver)
			return nil
		},
	}
}

func newPacksLockCmd(d func() packs.Dir, stdout, stderr io.Writer) *cobra.Command {
	o := &jobOptions{}
	var upgrade bool
	cmd := &cobra.Command{
		Use:   "lock JOBFILE",
		Short: "Pin the jobfile's packs (version and SHA-256) in taskhost.lock.hcl beside it",
		Long: `Pin each pack of the jobfile in taskhost.lock.hcl beside it: an installed
pack (required_packs) to the version already locked if the constraint still
allows it, else to the newest installed version that it allows (--upgrade:
always the newest); a pack given by path to its binary as it is now. From
then on, run refuses any binary whose SHA-256 is not the locked one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars, err := o.varMap()
			if err != nil {
				return err
			}
			job, diags := jobfile.Load(args[0], vars)
			if len(diags) > 0 {
				_ = jobfile.WriteDiagnostics(stderr, nil, diags)
			}
			if diags.HasErrors() {
				return &exitError{exitUsage, fmt.Errorf("%s: %s", args[0], countErrors(diags))}
			}
			lockPath := packs.LockPath(job.File)
			old, diags := packs.ReadLock(lockPath)
			if diags.HasErrors() {
				_ = jobfile.WriteDiagnostics(stderr, nil, diags)
				return &exitError{exitFailure, fmt.Errorf("%s: %s", lockPath, countErrors(diags))}
			}
			lock, changes, err := packs.MakeLock(context.Background(), job, d(), old, upgrade)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			if err := lock.Write(lockPath); err != nil {
				return &exitError{exitFailure, err}
			}
			for _, c := range changes {
				was := ""
				if c.Was != "" && c.Was != c.Version {
					was = " (was " + c.Was + ")"
				}
				fmt.Fprintf(stdout, "%s %s%s sha256 %s\n", c.Name, c.Version, was, c.SHA256)
			}
			fmt.Fprintf(stdout, "Wrote %s\n", lockPath)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&o.vars, "var", nil, "set a variable of the jobfile: NAME=VALUE (repeatable)")
	cmd.Flags().BoolVar(&upgrade, "upgrade", false, "pick the newest allowed installed version even when the locked one is still allowed")
	return cmd
}
