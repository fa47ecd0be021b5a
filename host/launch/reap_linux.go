package launch

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The children this process started with Start ("own" children), which
// exec.Cmd waits for. Every other child of this process is an orphan it
// adopted as a child subreaper, which the reaper waits for. The reaper
// lists children holding kids.start, and a start holds it (shared) until
// the new child is recorded, so the reaper never takes an own child for
// an orphan, nor waits for it.
var kids = struct {
	start sync.RWMutex
	mu    sync.Mutex
	own   map[int]struct{}
}{own: map[int]struct{}{}}

// startChild starts cmd as an own child.
func startChild(cmd *exec.Cmd) error {
	kids.start.RLock()
	defer kids.start.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	kids.mu.Lock()
	kids.own[cmd.Process.Pid] = struct{}{}
	kids.mu.Unlock()
	return nil
}

// childDone forgets an own child once exec.Cmd has waited for it.
func childDone(pid int) {
	kids.mu.Lock()
	delete(kids.own, pid)
	kids.mu.Unlock()
}

// adopted lists the children of this process that it did not start; the
// caller holds kids.start. With thorough, every process in /proc is
// looked at, else only the threads' lists of children, which are cheaper
// but may miss one that is being re-parented.
func adopted(thorough bool) []int {
	var pids []int
	if !thorough {
		pids = threadChildren()
	}
	if pids == nil {
		pids = procChildren()
	}
	kids.mu.Lock()
	defer kids.mu.Unlock()
	out := pids[:0]
	for _, pid := range pids {
		if _, own := kids.own[pid]; !own {
			out = append(out, pid)
		}
	}
	return out
}

// threadChildren reads this process's children from each of its threads'
// /proc/self/task/TID/children; nil if the kernel does not have them.
func threadChildren() []int {
	self := os.Getpid()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", self))
	if err != nil {
		return nil
	}
	pids := []int{}
	found := false
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", self, t.Name()))
		if err != nil {
			continue
		}
		found = true
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if !found {
		return nil
	}
	return pids
}

// procChildren finds this process's children by the parent pid in each
// process's /proc/PID/stat.
func procChildren() []int {
	self := os.Getpid()
	pids := []int{}
	forEachPID(func(pid int) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			return
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 {
			if ppid, err := strconv.Atoi(fields[1]); err == nil && ppid == self {
				pids = append(pids, pid)
			}
		}
	})
	return pids
}

// forEachPID calls fn with the pid of every process but this one.
func forEachPID(fn func(pid int)) {
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	self := os.Getpid()
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid != self {
			fn(pid)
		}
	}
}

// reap waits for every adopted child that has exited, without blocking.
func reap(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil)
	return err == nil && siginfoPid(&info) == pid
}

// The reaper runs while a Supervisor is open: this process is a child
// subreaper, and adopted children are waited for as they exit (at each
// SIGCHLD, and every second in case one was missed).
var reaper struct {
	mu    sync.Mutex
	users int
	stop  chan struct{}
	done  chan struct{}
}

// holdReaper makes this process a child subreaper and starts the reaper,
// for one more Supervisor; release ends that hold, and the last one stops
// the reaper and the subreaper.
func holdReaper() (release func(), err error) {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.users == 0 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return func() {}, err
		}
		reaper.stop, reaper.done = make(chan struct{}), make(chan struct{})
		go reapLoop(reaper.stop, reaper.done)
	}
	reaper.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			reaper.mu.Lock()
			defer reaper.mu.Unlock()
			reaper.users--
			if reaper.users == 0 {
				close(reaper.stop)
				<-reaper.done
				_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
			}
		})
	}, nil
}

// reaperUsers is how many Supervisors are open.
func reaperUsers() int {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	return reaper.users
}

func reapLoop(stop, done chan struct{}) {
	defer close(done)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		reapAdopted()
		select {
		case <-stop:
			reapAdopted()
			return
		case <-sigs:
		case <-tick.C:
		}
	}
}

func reapAdopted() {
	kids.start.Lock()
	defer kids.start.Unlock()
	for _, pid := range adopted(false) {
		reap(pid)
	}
}

// killAdopted kills the adopted children for which belongs is true, and
// waits for them, until none is left or the deadline passes (a zero
// deadline: one round, no waiting). Every adopted child that has exited
// is reaped on the way. It returns how many it killed.
func killAdopted(belongs func(pid int) bool, deadline time.Time) int {
	killed := map[int]bool{}
	for {
		kids.start.Lock()
		left := 0
		for _, pid := range adopted(true) {
			if reap(pid) {
				continue
			}
			if !killed[pid] && !belongs(pid) {
				continue
			}
			left++
			if !killed[pid] {
				_ = unix.Kill(pid, unix.SIGKILL)
				killed[pid] = true
			}
			reap(pid)
		}
		kids.start.Unlock()
		if left == 0 || !time.Now().Before(deadline) {
			return len(killed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hasMarker says whether process pid's environment matches.
func hasMarker(pid int, match func(env []byte) bool) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return err == nil && match(b)
}

// killMarked kills every process whose environment matches, looking again
// until it finds none alive or the deadline passes (a zero deadline: one
// round); it returns how many processes it killed. A process that has
// exited has no environment left to match.
func killMarked(match func(env []byte) bool, deadline time.Time) int {
	killed := map[int]bool{}
	for {
		found := 0
		forEachPID(func(pid int) {
			if !hasMarker(pid, match) {
				return
			}
			found++
			if !killed[pid] {
				killed[pid] = true
			}
			_ = unix.Kill(pid, unix.SIGKILL)
		})
		if found == 0 || !time.Now().Before(deadline) {
			return len(killed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killMarkedOrphans kills the processes of one launch whose environment
// matches, when this process is their subreaper: once the launch's
// process group pgid is gone, each of its processes still alive is an
// orphan this process adopted, or in the tree of one. So it kills the
// adopted orphans that match, and those adopted as their parents die,
// until the group is gone and no adopted orphan matches, or the deadline
// passes. It returns how many it killed.
func killMarkedOrphans(pgid int, match func(env []byte) bool, deadline time.Time) int {
	killed := map[int]bool{}
	for {
		found := 0
		kids.start.Lock()
		for _, pid := range adopted(false) {
			if reap(pid) || !hasMarker(pid, match) {
				continue
			}
			found++
			killed[pid] = true
			_ = unix.Kill(pid, unix.SIGKILL)
			reap(pid)
		}
		kids.start.Unlock()
		groupGone := pgid <= 0 || unix.Kill(-pgid, 0) == unix.ESRCH
		if found == 0 && groupGone || !time.Now().Before(deadline) {
			return len(killed)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
