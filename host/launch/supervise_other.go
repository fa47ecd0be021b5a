//go:build !linux

package launch

import (
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// Without Linux there are no cgroups, no child subreaper and no /proc to
// search: a pack is its process group.

type cgroupRun struct{}

type cgroupLeaf struct{}

var errNotLinux = errors.New("cgroups and child subreapers are Linux's")

func makeRunCgroup() (*cgroupRun, []string, error)   { return nil, nil, errNotLinux }
func (c *cgroupRun) leaf(int64) (*cgroupLeaf, error) { return nil, errNotLinux }
func (c *cgroupRun) kill()                           {}
func (c *cgroupRun) remove(time.Time) error          { return nil }
func (c *cgroupRun) holds(int) bool                  { return false }
func (l *cgroupLeaf) apply(*syscall.SysProcAttr)     {}
func (l *cgroupLeaf) started()                       {}
func (l *cgroupLeaf) kill()                          {}
func (l *cgroupLeaf) remove(time.Time) error         { return nil }
func holdReaper() (func(), error)                    { return func() {}, errNotLinux }
func reaperUsers() int                               { return 0 }
func startChild(cmd *exec.Cmd) error                 { return cmd.Start() }
func childDone(int)                                  {}
func killAdopted(func(int) bool, time.Time) int      { return 0 }
func killMarked(func([]byte) bool, time.Time) int    { return 0 }
func hasMarker(int, func([]byte) bool) bool          { return false }
func (l *cgroupLeaf) unapply(*syscall.SysProcAttr)   {}
func (c *cgroupRun) path() string                    { return "" }

func killMarkedOrphans(int, func([]byte) bool, time.Time) int { return 0 }
