package launch

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A pack's process group does not hold every process the pack starts: a
// descendant can leave it (setsid, a daemon's double fork), and a group
// kill then misses it. A Supervisor keeps track of every process of the
// packs it starts, their descendants included, so that they can all be
// killed:
//
//   - Each pack process starts in a cgroup (v2) of its own, below one the
//     Supervisor makes for the run in this process's own cgroup, where
//     the system lets it (Linux with cgroup2 mounted and this user allowed
//     to make cgroups there). Ending the pack writes cgroup.kill, which
//     kills every process in the cgroup, wherever it moved in the process
//     tree. A cgroup left by a host killed with SIGKILL is killed and
//     removed by the next Supervisor made in the same cgroup.
//   - Where no cgroup can be made, each pack process gets a marker in its
//     environment (MarkerEnv), which its descendants inherit; ending the
//     pack kills every process that carries its marker.
//   - This process becomes a child subreaper while a Supervisor is open:
//     an orphan among the packs' descendants (a double-forked daemon) is
//     re-parented to it instead of to init, reaped when it exits, and
//     killed at the latest when the Supervisor closes.
//
// While a Supervisor is open, every child of this process that Start did
// not start is taken for such an orphan: code that runs programs in the
// host during a run must start them with Start.

// MarkerEnv is the environment variable that marks every process of one
// pack launch, descendants included, as "<supervisor>.<launch>".
const MarkerEnv = "TASKHOST_PROC"

// NoCgroupEnv, set to anything, makes Supervisors do without cgroups, as
// where none can be made (for tests of that path, or where the cgroup
// gets in the way).
const NoCgroupEnv = "TASKHOST_NO_CGROUP"

// killWait bounds how long ending a pack, or closing a Supervisor, waits
// for the processes it killed to be gone.
const killWait = 5 * time.Second

// Supervisor keeps the processes of the packs started with it, and of
// their descendants, so that they can all be killed. Make one with
// NewSupervisor, give it to Start in Config.Supervisor, and Close it when
// the packs are done.
type Supervisor struct {
	id  string
	log hclog.Logger
	n   atomic.Int64

	cg        *cgroupRun // the run's cgroup, or nil
	why       string     // why there is none
	release   func()     // ends this Supervisor's hold on the reaper
	subreaper bool       // this process adopts the packs' orphans

	mu     sync.Mutex
	cgOff  bool // starting into the cgroup failed: no more leaves
	closed bool
}

// NewSupervisor makes a Supervisor: the run's cgroup if one can be made
// (after removing those of hosts that are gone), and this process a child
// subreaper. It does not fail: what cannot be had is logged, and done
// without.
func NewSupervisor(log hclog.Logger) *Supervisor {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s := &Supervisor{id: hex.EncodeToString(b), log: log}
	var err error
	s.release, err = holdReaper()
	if err != nil {
		log.Warn("not a child subreaper: orphaned descendants of packs go to init", "error", err)
	}
	s.subreaper = err == nil
	cg, swept, err := makeRunCgroup()
	switch {
	case err != nil:
		s.why = err.Error()
	default:
		s.cg = cg
	}
	for _, d := range swept {
		log.Info("killed and removed the cgroup of a host that is gone", "cgroup", d)
	}
	return s
}

// Cgroup says where the packs' cgroups are made, or why there are none.
func (s *Supervisor) Cgroup() (dir, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cg == nil {
		return "", s.why
	}
	if s.cgOff {
		return "", s.why
	}
	return s.cg.path(), ""
}

// member is one pack launch under a Supervisor.
type member struct {
	sup    *Supervisor
	marker string      // MarkerEnv=value
	leaf   *cgroupLeaf // the launch's cgroup, or nil
}

// member makes the record of one more launch, with its cgroup if the
// Supervisor has one. s may be nil: then so is the member, and the launch
// is only a process group.
func (s *Supervisor) member() *member {
	if s == nil {
		return nil
	}
	n := s.n.Add(1)
	m := &member{sup: s, marker: fmt.Sprintf("%s=%s.%d", MarkerEnv, s.id, n)}
	s.mu.Lock()
	cg, off := s.cg, s.cgOff || s.closed
	s.mu.Unlock()
	if cg != nil && !off {
		leaf, err := cg.leaf(n)
		if err != nil {
			s.cgroupFailed(err)
		} else {
			m.leaf = leaf
		}
	}
	return m
}

// cgroupFailed turns the cgroup off for later launches, after making or
// starting into a launch's cgroup failed.
func (s *Supervisor) cgroupFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cgOff {
		return
	}
	s.cgOff = true
	s.why = err.Error()
	s.log.Warn("packs start without a cgroup from now on: their processes are found by their marker", "error", err)
}

// killNow kills what can be killed at once: the launch's cgroup. The
// marker's search is left to finish.
func (m *member) killNow() {
	if m != nil && m.leaf != nil {
		m.leaf.kill()
	}
}

// finish kills every process of the launch, whose process group is pgid
// (the pack's pid), waits (up to killWait) until they are gone, and
// removes the launch's cgroup.
func (m *member) finish(pgid int) {
	if m == nil {
		return
	}
	deadline := time.Now().Add(killWait)
	if m.leaf != nil {
		if err := m.leaf.remove(deadline); err != nil {
			m.sup.log.Warn("a pack's cgroup was not removed; it goes with the run's", "error", err)
		}
		return
	}
	match := exactMarker(m.marker)
	var n int
	if m.sup.subreaper {
		// Every descendant of the pack still alive once the pack and its
		// group are gone is in the tree of an orphan this process adopted,
		// or will be once the processes between them exit: the adopted
		// ones are killed first, as their parents die.
		n = killMarkedOrphans(pgid, match, deadline)
	}
	// A descendant whose parent, outside the group, is still exiting is
	// not adopted yet (and the threads' lists of children can miss one
	// being re-parented): one look at every process's marker finds it.
	n += killMarked(match, deadline)
	if n > 0 {
		m.sup.log.Debug("killed processes a pack left", "marker", m.marker, "processes", n)
	}
}

// Close kills every process left of the Supervisor's launches, and every
// orphan this process adopted from them (every orphan at all when no other
// Supervisor is open), and removes the run's cgroup. It waits up to a few
// seconds for them to be gone.
func (s *Supervisor) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	deadline := time.Now().Add(killWait)
	if s.cg != nil {
		if err := s.cg.remove(deadline); err != nil {
			s.log.Warn("the run's cgroup was not removed; the next run removes it", "error", err)
		}
	}
	prefix := []byte(fmt.Sprintf("%s=%s.", MarkerEnv, s.id))
	killMarked(prefixMarker(prefix), deadline)
	if n := killAdopted(s.belongs(prefix), deadline); n > 0 {
		s.log.Info("killed orphans of the packs' processes", "processes", n)
	}
	if s.release != nil {
		s.release()
	}
}

// Abort kills at once every process of the Supervisor's launches that it
// can find, and every orphan this process adopted, without waiting: for a
// host about to exit.
func (s *Supervisor) Abort() {
	if s.cg != nil {
		s.cg.kill()
	}
	prefix := []byte(fmt.Sprintf("%s=%s.", MarkerEnv, s.id))
	killMarked(prefixMarker(prefix), time.Time{})
	killAdopted(func(int) bool { return true }, time.Time{})
}

// belongs says whether an adopted process is one of this Supervisor's:
// in its cgroup or with its marker; any orphan when this Supervisor is the
// only one open.
func (s *Supervisor) belongs(prefix []byte) func(pid int) bool {
	only := reaperUsers() <= 1
	return func(pid int) bool {
		return only || hasMarker(pid, prefixMarker(prefix)) || (s.cg != nil && s.cg.holds(pid))
	}
}

// exactMarker matches an environment (NUL-separated, as in
// /proc/PID/environ) that holds the variable kv exactly.
func exactMarker(kv string) func(env []byte) bool {
	want := []byte(kv)
	return func(env []byte) bool {
		for len(env) > 0 {
			v, rest, _ := bytes.Cut(env, []byte{0})
			if bytes.Equal(v, want) {
				return true
			}
			env = rest
		}
		return false
	}
}

// prefixMarker matches an environment that holds a variable starting with
// prefix.
func prefixMarker(prefix []byte) func(env []byte) bool {
	return func(env []byte) bool {
		for len(env) > 0 {
			v, rest, _ := bytes.Cut(env, []byte{0})
			if bytes.HasPrefix(v, prefix) {
				return true
			}
			env = rest
		}
		return false
	}
}
