"""Child processes of a task: t.command starts one joined to the task
(TASKHOST_CHILD, its own pid-<pid>.log), and a Python program started so
joins it with taskhost.run_child (or a pack's `run` command), reporting
its steps under the step that started it, as the Go SDK's
(sdk/internal/taskenv)."""

import json
import os
import sys

CHILD_ENV = "TASKHOST_CHILD"


def _pdeathsig():
    """A preexec_fn asking the kernel to kill the child with SIGKILL when
    the task process dies (Linux); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_it():
        prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    return set_it


def child_info(run, parent):
    """The TASKHOST_CHILD value for a child under step parent (the Go
    SDK's JSON, in its order)."""
    h = run.hub
    info = {"url": h.url, "token": h.token, "subject": h.events_subject, "inbox_prefix": h.inbox_prefix,
            "msg_id_prefix": h.msg_id_prefix}
    if h.state_socket:
        info["state_socket"] = h.state_socket
    if h.tls_ca_pem:
        info["tls_ca_pem"] = h.tls_ca_pem
    info["task_id"] = run.task_id
    info["parent"] = parent
    if run.log_dir:
        info["log_dir"] = run.log_dir
    return json.dumps(info, separators=(",", ":"))


def start(run, parent, args, kw):
    """subprocess.Popen(args, **kw) joined to the task; the Popen gets
    log_file: its log file relative to the run directory ("" without one)."""
    import subprocess
    from ._log import perm, run_rel
    from ._pack import COOKIE_KEY
    env = kw.get("env")
    env = dict(os.environ if env is None else env)
    env.pop(COOKIE_KEY, None)
    env.pop(CHILD_ENV, None)
    if run.hub is not None:
        env[CHILD_ENV] = child_info(run, parent)
    kw["env"] = env
    if "preexec_fn" not in kw:
        pf = _pdeathsig()
        if pf is not None:
            kw["preexec_fn"] = pf
    tmp = None
    if run.log_dir and (kw.get("stdout") is None or kw.get("stderr") is None):
        import tempfile
        fd, tmp = tempfile.mkstemp(prefix=".child-", suffix=".log", dir=run.log_dir)
        os.fchmod(fd, perm(run.log_dir))
        if kw.get("stdout") is None:
            kw["stdout"] = fd
        if kw.get("stderr") is None:
            kw["stderr"] = fd
        try:
            p = subprocess.Popen(args, **kw)
        except BaseException:
            os.close(fd)
            os.remove(tmp)
            raise
        os.close(fd)
    else:
        if kw.get("stdout") is None:
            kw["stdout"] = subprocess.DEVNULL
        if kw.get("stderr") is None:
            kw["stderr"] = subprocess.DEVNULL
        p = subprocess.Popen(args, **kw)
    p.log_file = ""
    if tmp is not None:
        name = "pid-%d.log" % p.pid
        try:
            os.rename(tmp, os.path.join(run.log_dir, name))
        except OSError as e:
            run.logger.warning("child log not renamed: error=%s", e)
        else:
            p.log_file = run_rel(run.log_dir, name)
            run.emit.emit({"kind": "log", "parent": parent, "name": p.log_file, "pid": p.pid})
    path = args if isinstance(args, (str, bytes)) else args[0]
    run.logger.info("started %s (pid %d)", os.fsdecode(path), p.pid, extra={"kv": [("log", p.log_file)]})
    return p


class Attached:
    """A child process joined to its task."""

    def __init__(self, run, emitter, log, handler):
        self.run = run
        self.emitter = emitter
        self.logf = log
        self.handler = handler

    def done(self):
        """Sends every event and lets go; the error, or None."""
        _, err = self.emitter.flush(30.0)
        if err:
            self.run.logger.error("not every result event reached the hub: error=%s", err)
        self.emitter.close()
        import logging
        logging.getLogger().removeHandler(self.handler)
        if self.logf is not None:
            self.logf.close()
        return err


def attach(name, stderr):
    """Joins the task that started this process, if one did (None
    otherwise). Raises RuntimeError when TASKHOST_CHILD is bad or the hub
    cannot be reached."""
    raw = os.environ.get(CHILD_ENV, "")
    if not raw:
        return None
    try:
        ci = json.loads(raw)
        if not isinstance(ci, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise RuntimeError("%s is not valid: %s" % (CHILD_ENV, e)) from None
    from . import _emit, _log, _t, _wire
    pid = os.getpid()
    src = "pid-%d" % pid
    hub = _wire.Hub(url=ci.get("url", ""), token=ci.get("token", ""), events_subject=ci.get("subject", ""),
                    inbox_prefix=ci.get("inbox_prefix", ""), msg_id_prefix=ci.get("msg_id_prefix", ""),
                    state_socket=ci.get("state_socket", ""), tls_ca_pem=ci.get("tls_ca_pem", ""))
    task_id = ci.get("task_id", "")
    try:
        em = _emit.Hub.dial(hub, "task %s child (pid %d)" % (task_id, pid), src)
    except _emit.HubError as e:
        raise RuntimeError(str(e)) from None
    lf = None
    sink = _log.StreamSink(stderr)
    log_dir = ci.get("log_dir", "")
    if log_dir:
        try:
            lf = _log.LogFile.open(log_dir, src + ".log")
            sink = lf
        except OSError:
            lf = None
    parent = ci.get("parent", "")
    run = _t.Run(task_id, em, log=lf, hub=hub, log_dir=log_dir, root="%s/%d" % (parent, pid), parent=parent)
    handler = _t.attach_logging(run, sink, task_id, (("pid", pid),))
    em.on_refused = lambda msg: run.logger.error("%s", msg)
    return Attached(run, em, lf, handler)


def run_attached(child, fn, stderr):
    r, _ = fn(child.run)
    err = child.done()
    if err:
        stderr.write("%s: not every result event was stored by the hub: %s\n" % (child.run.task_id, err))
        return 1
    return 0 if r.success else 1


def run_child(fn):
    """The main of a program that a task starts with t.command: fn(t) runs
    as part of that task, its steps under the step that started this
    process, its log in the process's own log file. Started any other way,
    fn runs on its own and its result tree is printed. Exits with 0 when
    fn's result is Passed, Passx or Skipped, 1 otherwise."""
    from . import _cli, _log, _mem, _t
    name = _cli.prog_name()
    try:
        child = attach(name, sys.stderr)
    except RuntimeError as e:
        sys.stderr.write("%s: %s\n" % (name, e))
        sys.exit(1)
    if child is not None:
        sys.exit(run_attached(child, lambda run: _t.run_task(run, fn), sys.stderr))
    em = _mem.Mem()
    run = _t.Run(name, em)
    _t.attach_logging(run, _log.StreamSink(sys.stderr), name)
    r, reason = _t.run_task(run, fn)
    _mem.write_text(sys.stdout, name, r, reason, em.sections)
    sys.exit(0 if r.success else 1)
