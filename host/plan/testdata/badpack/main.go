// Command badpack is a pack that describes itself wrongly: an argument's
// type is not go-cty's JSON type encoding. Named badpack, the bad
// argument is a task's; named badhook, a hook's. host/plan's tests build
// it.
package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
)

type server struct {
	packv1.UnimplementedPackServer
}

func (server) Describe(context.Context, *packv1.DescribeRequest) (*packv1.DescribeResponse, error) {
	bad := []*packv1.ArgSpec{{Name: "n", TypeJson: []byte(`"nosuchtype"`)}}
	good := []*packv1.ArgSpec{{Name: "n", TypeJson: []byte(`"string"`)}}
	d := &packv1.DescribeResponse{Name: "badpack", Version: "1.0.0", ProtocolVersions: []int32{1},
		Tasks: []*packv1.TaskSpec{{Name: "t", Args: good}},
		Hooks: []*packv1.HookSpec{{Name: "h", Stages: []string{"pre_job"}, Args: good}}}
	if filepath.Base(os.Args[0]) == "badhook" {
		d.Hooks[0].Args = bad
	} else {
		d.Tasks[0].Args = bad
	}
	return d, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: protocol.PluginSets(server{}),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
