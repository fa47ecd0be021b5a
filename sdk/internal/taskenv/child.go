package taskenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol/wire"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/logfile"
)

// childEnv is the environment variable through which a task hands a child
// process what it needs to join the task: the hub (and its CA when it is
// reached over TLS), its credentials, the step it runs under, and where
// to log.
const childEnv = "TASKHOST_CHILD"

type childInfo struct {
	URL         string `json:"url"`
	Token       string `json:"token"`
	Subject     string `json:"subject"`
	InboxPrefix string `json:"inbox_prefix"`
	MsgIDPrefix string `json:"msg_id_prefix"`
	StateSocket string `json:"state_socket,omitempty"`
	CA          string `json:"tls_ca_pem,omitempty"`
	TaskID      string `json:"task_id"`
	Parent      string `json:"parent"`
	LogDir      string `json:"log_dir,omitempty"`
}

// StartChild starts x, a child process of the task, joined to it: its
// environment (x.Env, or this process's) gets TASKHOST_CHILD with the hub
// (its CA too, when the task reaches it over TLS), the task's
// credentials, the step parent it runs under and where to log;
// its SysProcAttr, if nil, asks for the parent-death signal where there
// is one; and its stdout and stderr, those of them nil, go to a log file
// of its own in the task's log directory, which the task reports (an
// event) and StartChild returns, relative to the run directory ("" without
// a log directory).
func (e *Env) StartChild(x *exec.Cmd, parent string, logger hclog.Logger) (logFile string, err error) {
	env := x.Env
	if env == nil {
		env = os.Environ()
	}
	env = withoutEnv(env, wire.CookieKey, childEnv)
	if e.Hub != nil {
		b, _ := json.Marshal(childInfo{
			URL: e.Hub.GetUrl(), Token: e.Hub.GetToken(), Subject: e.Hub.GetEventsSubject(),
			InboxPrefix: e.Hub.GetInboxPrefix(), MsgIDPrefix: e.Hub.GetMsgIdPrefix(), StateSocket: e.Hub.GetStateSocket(),
			CA: e.Hub.GetTlsCaPem(), TaskID: e.TaskID, Parent: parent, LogDir: e.LogDir,
		})
		env = append(env, childEnv+"="+string(b))
	}
	x.Env = env
	if x.SysProcAttr == nil {
		x.SysProcAttr = parentDeathSignal()
	}

	var logF *os.File
	if e.LogDir != "" && (x.Stdout == nil || x.Stderr == nil) {
		// The name needs the pid, known only once started: open under a
		// temporary name, rename after.
		if logF, err = os.CreateTemp(e.LogDir, ".child-*.log"); err != nil {
			return "", fmt.Errorf("child log: %w", err)
		}
		defer logF.Close()
		if err := logF.Chmod(logfile.Perm(e.LogDir)); err != nil {
			os.Remove(logF.Name())
			return "", fmt.Errorf("child log: %w", err)
		}
		if x.Stdout == nil {
			x.Stdout = logF
		}
		if x.Stderr == nil {
			x.Stderr = logF
		}
	}
	if err := x.Start(); err != nil {
		if logF != nil {
			os.Remove(logF.Name())
		}
		return "", err
	}
	if logF != nil {
		name := fmt.Sprintf("pid-%d.log", x.Process.Pid)
		if err := os.Rename(logF.Name(), filepath.Join(e.LogDir, name)); err != nil {
			logger.Warn("child log not renamed", "error", err)
		} else {
			logFile = logfile.RunRel(e.LogDir, name)
			e.Emit.Emit(report.Event{Kind: report.KindLog, Parent: parent, Name: logFile, PID: x.Process.Pid})
		}
	}
	logger.Info(fmt.Sprintf("started %s (pid %d)", x.Path, x.Process.Pid), "log", logFile)
	return logFile, nil
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// Attach joins the task that started this process, if one did: it
// returns the Env and logger to report with, and done, which sends every
// event and closes the connection. It returns a nil Env and a logger to
// stderr when no task started this process.
func Attach(name string, stderr io.Writer) (env *Env, logger hclog.Logger, done func() error, err error) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return nil, hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Trace, Output: stderr}), func() error { return nil }, nil
	}
	var ci childInfo
	if err := json.Unmarshal([]byte(raw), &ci); err != nil {
		return nil, nil, nil, fmt.Errorf("%s is not valid: %w", childEnv, err)
	}
	pid := os.Getpid()
	src := "pid-" + strconv.Itoa(pid)
	hub := &packv1.Hub{Url: ci.URL, Token: ci.Token, EventsSubject: ci.Subject, InboxPrefix: ci.InboxPrefix,
		MsgIdPrefix: ci.MsgIDPrefix, StateSocket: ci.StateSocket, TlsCaPem: ci.CA}
	em, err := emit.Dial(hub, fmt.Sprintf("task %s child (pid %d)", ci.TaskID, pid), src)
	if err != nil {
		return nil, nil, nil, err
	}
	var lf *logfile.File
	var out io.Writer = stderr
	if ci.LogDir != "" {
		if lf, err = logfile.Open(ci.LogDir, src+".log"); err == nil {
			out = lf
		}
	}
	logger = hclog.New(&hclog.LoggerOptions{Name: ci.TaskID, Level: hclog.Trace, Output: out}).With("pid", pid)
	em.SetOnRefused(emit.RefusedLogger(logger))
	env = &Env{
		TaskID: ci.TaskID, Emit: em, PID: pid, Log: lf, Hub: hub, LogDir: ci.LogDir,
		Root: ci.Parent + "/" + strconv.Itoa(pid), Parent: ci.Parent,
	}
	done = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := em.Flush(ctx)
		if err != nil && !emit.Refused(err) { // said when it happened
			logger.Error("not every result event reached the hub", "error", err)
		}
		em.Close()
		if lf != nil {
			lf.Close()
		}
		return err
	}
	return env, logger, done, nil
}
