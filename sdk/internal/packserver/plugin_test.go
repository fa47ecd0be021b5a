package packserver_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/internal/testbuild"
)

// printpack is served by the SDK (testdata/printpack).
var printpack string

func TestMain(m *testing.M) {
	testbuild.Main(m, map[*string]string{&printpack: "./testdata/printpack"}, nil)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServesGoPluginClient: a pack serves go-plugin's handshake and
// services without go-plugin, and go-plugin's client, as a host uses it,
// gets what go-plugin's server gave it: the highest shared version, the
// health check, the pack service, over TLS when it asks for AutoMTLS;
// what the pack writes to os.Stdout and os.Stderr while serving, on the
// stdio stream; and a graceful stop (GRPCController.Shutdown), after
// which the pack exits with 0 rather than being killed.
func TestServesGoPluginClient(t *testing.T) {
	t.Parallel()
	for name, autoTLS := range map[string]bool{"plain": false, "AutoMTLS": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr syncBuf
			cmd := exec.Command(printpack)
			client := plugin.NewClient(&plugin.ClientConfig{
				HandshakeConfig:  protocol.Handshake,
				VersionedPlugins: protocol.PluginSets(nil),
				Cmd:              cmd,
				AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
				AutoMTLS:         autoTLS,
				SyncStdout:       &stdout,
				SyncStderr:       &stderr,
				Logger:           hclog.NewNullLogger(),
			})
			defer client.Kill()
			rpc, err := client.Client()
			if err != nil {
				t.Fatal(err)
			}
			if v := client.NegotiatedVersion(); v != protocol.Version {
				t.Errorf("negotiated version %d, want %d", v, protocol.Version)
			}
			if err := rpc.Ping(); err != nil {
				t.Errorf("health check: %v", err)
			}
			raw, err := rpc.Dispense(protocol.PluginName)
			if err != nil {
				t.Fatal(err)
			}
			d, err := raw.(packv1.PackClient).Describe(context.Background(), &packv1.DescribeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if d.GetName() != "printpack" {
				t.Errorf("described %q, want printpack", d.GetName())
			}
			// The stream carries the lines; wait for them (a bound, not a
			// measure).
			for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				if strings.Contains(stdout.String(), "describe: to stdout") && strings.Contains(stderr.String(), "describe: to stderr") {
					break
				}
			}
			if !strings.Contains(stdout.String(), "describe: to stdout") || !strings.Contains(stderr.String(), "describe: to stderr") {
				t.Errorf("the stdio stream carried stdout %q and stderr %q, want the pack's lines", stdout.String(), stderr.String())
			}
			client.Kill()
			if !client.Exited() || cmd.ProcessState == nil {
				t.Fatal("the pack did not exit")
			}
			if !cmd.ProcessState.Success() {
				t.Errorf("the pack ended with %v after the host's Shutdown, want exit status 0", cmd.ProcessState)
			}
		})
	}
}

// TestBrokerMultiplexNotServed: a host that asks for the broker's
// multiplexing (which a taskhost host does not) is told on the handshake
// line that the pack does not serve it, and refuses the pack.
func TestBrokerMultiplexNotServed(t *testing.T) {
	t.Parallel()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:     protocol.Handshake,
		VersionedPlugins:    protocol.PluginSets(nil),
		Cmd:                 exec.Command(printpack),
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCBrokerMultiplex: true,
		Logger:              hclog.NewNullLogger(),
	})
	defer client.Kill()
	if _, err := client.Client(); !errors.Is(err, plugin.ErrGRPCBrokerMuxNotSupported) {
		t.Errorf("start: %v, want %v", err, plugin.ErrGRPCBrokerMuxNotSupported)
	}
}
