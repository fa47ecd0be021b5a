package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are what a pack's build must not pull in: the host's
// packages and the heavy modules only the host needs (the embedded NATS
// server, the browser, the terminal UI, the jobfile language); and what
// go-plugin's server brought into every pack, whose package
// initialisation each pack process paid at its start (net/rpc and
// encoding/gob, yamux, gRPC's reflection and health services, protobuf's
// descriptors) while the SDK serves go-plugin's handshake itself; and the
// testing package.
var forbiddenDeps = []string{
	"github.com/taskhost/taskhost/host/",
	"github.com/nats-io/nats-server/",
	"github.com/chromedp/",
	"github.com/charmbracelet/bubbletea",
	"github.com/charmbracelet/lipgloss",
	"github.com/hashicorp/hcl/",
	"github.com/hashicorp/go-plugin",
	"github.com/hashicorp/yamux",
	"net/rpc",
	"google.golang.org/grpc/reflection",
	"google.golang.org/grpc/health",
	"google.golang.org/protobuf/reflect/protodesc",
	"google.golang.org/protobuf/types/descriptorpb",
	"testing",
}

// forbidden lists the packages pattern depends on that it must not.
func forbidden(t *testing.T, pattern string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", pattern).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pattern, err)
	}
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		for _, f := range forbiddenDeps {
			if strings.HasPrefix(p, f) {
				bad = append(bad, p)
			}
		}
	}
	return bad
}

// TestPackDeps: the packs, and the SDK they import, build without any of
// forbiddenDeps (encoding/gob is still there: nats.go imports it); sdk/sdktest, which runs a real hub in a test, is the
// check's witness that it finds them.
func TestPackDeps(t *testing.T) {
	t.Parallel()
	for _, pattern := range []string{".", "../plugins/..."} {
		if bad := forbidden(t, pattern); len(bad) > 0 {
			t.Errorf("%s depends on %s", pattern, strings.Join(bad, ", "))
		}
	}
	if bad := forbidden(t, "./sdktest"); len(bad) == 0 {
		t.Error("the check finds nothing forbidden in sdk/sdktest, which imports host/hub: it checks nothing")
	}
}
