package plan

import (
	"errors"
	"fmt"
	"slices"

	"github.com/taskhost/taskhost/internal/packwire"
	"github.com/taskhost/taskhost/internal/protocol"
)

// ErrPackTooOldForAgents is wrapped by RemoteCapable's refusal.
var ErrPackTooOldForAgents = errors.New("was built with an SDK too old for tasks on agents")

// RemoteCapable says why the pack that d describes cannot run a task on
// an agent, or nil when it can: a task on an agent reaches the run's hub
// over TLS (Hub.tls_ca_pem), which a pack learns in pack protocol
// version protocol.HubTLSVersion; a pack whose protocol_versions lack it
// was built with an older SDK. Such a pack still runs on the host.
func RemoteCapable(d *packwire.Description) error {
	if slices.Contains(d.ProtocolVersions, int32(protocol.HubTLSVersion)) {
		return nil
	}
	return fmt.Errorf("pack %s %w: it speaks pack protocol %v, and tasks on agents need %d; rebuild it with this taskhost's SDK, or run its tasks on the host",
		d.Name, ErrPackTooOldForAgents, d.ProtocolVersions, protocol.HubTLSVersion)
}
