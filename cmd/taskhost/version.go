package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/sdk"
)

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of taskhost, of its SDK and of the pack protocols it speaks",
		Long: `Print the version of taskhost (its module version and commit, from the
build), the version of the SDK it was built with, and the pack protocol
versions it speaks: a pack that speaks none of them cannot be run by it
(docs/protocol.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			writeVersion(stdout)
			return nil
		},
	}
}

// writeVersion prints the host's version, the SDK's and the protocols'.
func writeVersion(w io.Writer) {
	fmt.Fprintf(w, "taskhost %s\n", hostVersion())
	fmt.Fprintf(w, "SDK %s\n", sdk.Version)
	protos := make([]string, len(protocol.Versions))
	for i, v := range protocol.Versions {
		protos[i] = fmt.Sprint(v)
	}
	fmt.Fprintf(w, "pack protocol versions %s\n", strings.Join(protos, ", "))
}

// hostVersion is the module version taskhost was built at ("(devel)"
// for a build in a checkout), with the commit and whether the tree had
// changes when the build knows them, and the Go version.
func hostVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown) " + runtime.Version()
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		v += " commit " + rev[:min(12, len(rev))]
		if modified == "true" {
			v += " with local changes"
		}
	}
	return v + " " + bi.GoVersion
}
