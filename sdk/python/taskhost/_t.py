"""T: what a task function gets; sections and steps, results, data,
outputs, the task's own end. The events it emits are those of the Go SDK
(sdk/t.go), so that the host builds the same tree."""

import json
import logging
import os
import threading
import time

from . import _results as R
from ._log import LOGGER, go_duration


class _End(BaseException):
    """Ends the step (or task) node at once: raised by t.failed() and the
    like, and by a step that did not pass, to stop the one that started
    it. A BaseException, so that `except Exception` in the task does not
    keep the step going (as runtime.Goexit in the Go SDK)."""

    def __init__(self, node):
        super().__init__()
        self.node = node


class _Node:
    __slots__ = ("id", "name", "own", "reason", "data", "children", "next")

    def __init__(self, id="", name=""):
        self.id = id
        self.name = name
        self.own = None
        self.reason = ""
        self.data = b""
        self.children = None
        self.next = 0

    def result(self):
        return R.rollup(self.own, self.children) or R.Passed


class Outputs:
    """The outputs a task process sets (declared ones only), as JSON."""

    def __init__(self, declared):
        self.declared = list(declared)
        self.values = {}
        self._mu = threading.Lock()

    def set(self, name, value):
        with self._mu:
            self.values[name] = value

    def snapshot(self):
        with self._mu:
            return dict(self.values)


class Run:
    """What one process of a task (or of a hook call) runs with: the task
    process itself, or a child process that joined it."""

    def __init__(self, task_id, emitter, log=None, hub=None, log_dir="", outputs=None,
                 root="", parent="", masker=None):
        self.task_id = task_id
        self.emit = emitter
        self.log = log  # a _log.LogFile, or None when logging to a stream
        self.hub = hub
        self.log_dir = log_dir
        self.outputs = outputs
        self.root = root
        self.parent = parent
        self.masker = masker
        self.pid = os.getpid()
        self._local = threading.local()
        self.logger = logging.getLogger(LOGGER)
        self.cancelled = threading.Event()
        self.cause = ""
        self.deadline = None
        self.in_task = False
        self.handler = None  # the _log.Handler of attach_logging
        self._state = None
        self._state_mu = threading.Lock()

    @property
    def stack(self):
        """The sections and steps open in this thread, innermost last."""
        try:
            return self._local.stack
        except AttributeError:
            self._local.stack = []
            return self._local.stack

    def current_step(self):
        st = self.stack
        return st[-1].id if st else ""

    def line(self, msg, kvs=()):
        """An INFO line of the SDK's own on t.logger."""
        h = self.handler
        if h is not None and self.logger.isEnabledFor(20):
            h.line(20, msg, kvs)
        elif kvs:
            self.logger.info("%s", msg, extra={"kv": list(kvs)})
        else:
            self.logger.info("%s", msg)

    def log_end(self):
        return self.log.end() if self.log is not None else 0

    def log_failures(self):
        return self.log.failures() if self.log is not None else 0

    def log_lost(self, mark):
        return self.log.lost_since(mark) if self.log is not None else ""

    def log_ref(self, begin):
        return self.log.ref(begin) if self.log is not None else None

    def stop_reason(self):
        return "stopped: " + (self.cause or "interrupted")


def _log_lost(r, reason, lost):
    """Errored, with why, when lines of the log were lost."""
    if not lost:
        return r, reason
    r2 = R.rollup(r, R.Errored)
    if r2 is not r:
        r = r2
        reason = (lost + "; " + reason) if reason else lost
    return r, reason


def _exc_reason(exc):
    msg = str(exc)
    return type(exc).__name__ + (": " + msg if msg else "")


class T:
    """What a task function gets, and each step's `with ... as s` object.

    Results: passed/failed/errored/skipped/blocked/aborted/passx(reason)
    end the step at once with that result (on a step's object: that step;
    on the task's t: the innermost step open, or the task itself).
    """

    def __init__(self, run, node):
        self._run = run
        self._node = node

    # What the task is.

    @property
    def task_id(self):
        """The id the jobfile gave this task."""
        return self._run.task_id

    @property
    def name(self):
        """The step's name, or the task id at the top level."""
        return self._node.name if self._node.id else self._run.task_id

    @property
    def id(self):
        """The step's id ("1.2"); "" for the task."""
        return self._node.id

    @property
    def logger(self):
        """The task's logging.Logger: its lines land in task.log."""
        return self._run.logger

    @property
    def log(self):
        """The task's logger, also callable: t.log("msg %s", x) logs at
        INFO, as t.log.info("msg %s", x) does."""
        return _Log(self._run.logger)

    @property
    def cancelled(self):
        """A threading.Event set when the task must stop (its timeout
        passed, the run was stopped)."""
        return self._run.cancelled

    @property
    def deadline(self):
        """When the task must be done, as time.time(); None for no deadline."""
        return self._run.deadline

    @property
    def result(self):
        """The step's result so far: its own rolled up with its finished
        children's, Passed if neither."""
        return self._target().result()

    # Steps and sections.

    def step(self, name, continue_=False):
        """A step, as a context manager: `with t.step("ping") as s:`. A
        step that does not pass (Passed, Passx, Skipped) ends the step or
        section that started it too, unless continue_ is true."""
        return _Block(self, "step", name, continue_)

    def section(self, name, continue_=False):
        """A section (pyATS's setup, testcases, cleanup), as a context
        manager; steps go under it."""
        return _Block(self, "section", name, continue_)

    # Results.

    def passed(self, reason=""):
        self._end(R.Passed, reason)

    def failed(self, reason=""):
        self._end(R.Failed, reason)

    def errored(self, reason=""):
        self._end(R.Errored, reason)

    def skipped(self, reason=""):
        self._end(R.Skipped, reason)

    def blocked(self, reason=""):
        self._end(R.Blocked, reason)

    def aborted(self, reason=""):
        self._end(R.Aborted, reason)

    def passx(self, reason=""):
        self._end(R.Passx, reason)

    def _target(self):
        n = self._node
        if n.id == "" and self._run.stack:
            return self._run.stack[-1]
        return n

    def _end(self, r, reason):
        n = self._target()
        _set_own(self._run, n, r, reason)
        raise _End(n)

    # Data and outputs.

    def set_data(self, obj):
        """Attaches obj, which must encode as JSON, to the step (or the
        task): it appears with its result in results.json. A later call
        replaces it."""
        try:
            b = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as e:
            self._run.logger.error("step data does not encode as JSON; dropped: error=%s", e)
            return
        self._target().data = b

    def set_output(self, name, value):
        """Sets an output the task declared (Output), as JSON; other tasks
        of the jobfile read it as task.ID.output.NAME. An undeclared name,
        a value that does not encode, or a call from a child process ends
        the step Errored."""
        o = self._run.outputs
        if o is None:
            self.errored("set_output(%r): outputs can be set only in the task's own process" % name)
        if name not in o.declared:
            self.errored("set_output(%r): the task declares no such output; declare it with "
                         "outputs=[Output(%r)] in @pack.task" % (name, name))
        try:
            b = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as e:
            self.errored("set_output(%r): %s" % (name, e))
        o.set(name, b)

    def sync(self, timeout=30.0):
        """Waits until every event reported so far is stored by the hub;
        raises RuntimeError when they could not be."""
        _, err = self._run.emit.flush(timeout)
        if err:
            raise RuntimeError(err)

    # Shared state and children.

    @property
    def state(self):
        """The run's shared state (see State)."""
        run = self._run
        with run._state_mu:
            if run._state is None:
                from . import _state
                hub = run.hub
                name = "task %s" % run.task_id
                if hub is None or not hub.state_socket:
                    run._state = _state.State("", "", name, run.cancelled)
                else:
                    run._state = _state.State(hub.state_socket, hub.token, name, run.cancelled)
            return run._state

    def command(self, args, **popen_kwargs):
        """Starts a child process joined to the task (subprocess.Popen's
        arguments): a program using the SDK reports its steps under the
        current step; its output, unless redirected, goes to its own log
        file, tasks/<id>/pid-<pid>.log."""
        from . import _child
        return _child.start(self._run, self._target().id, args, popen_kwargs)


class _Log:
    """t.log: the task's logging.Logger, callable for an INFO line."""

    __slots__ = ("_logger",)

    def __init__(self, logger):
        self._logger = logger

    def __call__(self, msg, *args, **kwargs):
        kwargs.setdefault("stacklevel", 2)
        self._logger.info(msg, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._logger, name)


def _text(s):
    """s as text that encodes as UTF-8, as a name or reason must: bytes
    are decoded, and invalid bytes, or lone surrogates in a str (what
    os.fsdecode makes of them), become U+FFFD; None is ""; anything else
    is str(s)."""
    if s is None:
        return ""
    if isinstance(s, (bytes, bytearray)):
        return bytes(s).decode("utf-8", "replace")
    if not isinstance(s, str):
        s = str(s)
    try:
        s.encode()
        return s
    except UnicodeEncodeError:
        try:
            return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            return s.encode("utf-8", "replace").decode()


def _set_own(run, n, r, reason):
    if type(reason) is not str or not reason.isascii():
        reason = _text(reason)
    n.own = R.rollup(n.own, r)
    if n.own is r:
        n.reason = reason
    if reason:
        run.line("%s: %s" % (r.title, reason))


class _Block:
    """A section or step being run: the context manager of t.step."""

    __slots__ = ("t", "typ", "name", "cont", "node", "parent", "begin", "mark")

    def __init__(self, t, typ, name, cont):
        self.t = t
        self.typ = typ
        self.name = name if type(name) is str and name.isascii() else _text(name)
        self.cont = cont

    def __enter__(self):
        run = self.t._run
        p = self.t._target()
        p.next += 1
        n = str(p.next)
        parent = p.id
        if parent:
            id = parent + "." + n
        elif run.root:
            id = run.root + "." + n
            parent = run.parent
        else:
            id = n
        self.node = node = _Node(id, self.name)
        self.parent = p
        self.begin, self.mark = run.log_end(), run.log_failures()
        run.emit.emit({"kind": "start", "id": id, "parent": parent, "name": self.name, "type": self.typ})
        run.stack.append(node)
        run.line("%s %s: %s" % (self.typ.upper(), id, self.name))
        return T(run, node)

    def __exit__(self, et, exc, tb):
        run = self.t._run
        node = self.node
        swallow = False
        if exc is None:
            pass
        elif isinstance(exc, _End):
            swallow = exc.node is node
        elif isinstance(exc, Exception):
            reason = _exc_reason(exc)
            run.logger.error("%s", reason, exc_info=(et, exc, tb))
            _set_own(run, node, R.Errored, reason)
            swallow = True
        elif isinstance(exc, KeyboardInterrupt):
            _set_own(run, node, R.Aborted, run.stop_reason())
        elif isinstance(exc, SystemExit):
            _set_own(run, node, R.Errored, _exc_reason(exc) if exc.code is not None else "SystemExit")
        r = node.result()
        rec, why = _log_lost(r, node.reason, run.log_lost(self.mark))
        run.line("%s %s: %s => %s" % (self.typ.upper(), node.id, node.name, rec.title))
        if run.stack and run.stack[-1] is node:
            run.stack.pop()
        elif node in run.stack:
            run.stack.remove(node)
        ev = {"kind": "end", "id": node.id, "result": rec.name, "reason": why, "data": node.data}
        logs = run.log_ref(self.begin)
        if logs is not None:
            ev["logs"] = logs
        run.emit.emit(ev)
        p = self.parent
        p.children = R.rollup(p.children, r)
        if (exc is None or swallow) and not r.success and not self.cont:
            raise _End(p)
        return swallow


def run_task(run, fn, *args, **kwargs):
    """Runs fn(t, *args, **kwargs) as the task at the top of the tree and
    returns its rolled-up result and reason, once it has emitted the
    task's end event. SystemExit goes through (the process exits as the
    task asked)."""
    root = _Node()
    t = T(run, root)
    start = time.monotonic()
    if threading.excepthook is not _quiet_end:
        _quiet_end.next = threading.excepthook
        threading.excepthook = _quiet_end
    run.in_task = True
    try:
        try:
            fn(t, *args, **kwargs)
        finally:
            run.in_task = False
    except _End:
        pass
    except KeyboardInterrupt:
        _set_own(run, root, R.Aborted, run.stop_reason())
    except Exception as e:
        reason = _exc_reason(e)
        run.logger.error("%s", reason, exc_info=True)
        _set_own(run, root, R.Errored, reason)
    run.stack.clear()
    return end_task(run, root, start)


def _quiet_end(args):
    """threading.excepthook: a step in a thread that did not pass ends the
    thread's function (as it would end the step that started it), which
    is no error to print; anything else goes to the hook before."""
    if args.exc_type is not _End:
        _quiet_end.next(args)


def end_task(run, root, start):
    r = root.result()
    reason = root.reason
    if run.cancelled.is_set() and r.success:
        # The task returned after being told to stop; what it did is not
        # what it was asked to do.
        r, reason = R.Aborted, run.stop_reason()
    r, reason = _log_lost(r, reason, run.log_lost(0))
    run.emit.emit({"kind": "end", "result": r.name, "reason": reason, "data": root.data})
    run.line("task %s => %s" % (run.task_id, r.title), (("elapsed", go_duration(time.monotonic() - start)),))
    return r, reason


def attach_logging(run, sink, name, extra_kvs=()):
    """Sends t.logger and the root logger to sink (a LogFile or a
    StreamSink) as go-hclog lines named name, with step=<id> while a step
    runs. The root logger's level becomes INFO when it was left at
    Python's default (WARNING), so that libraries' info lines land in the
    task's log as pyATS users expect; t.logger logs from DEBUG."""
    from ._log import Handler
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, Handler):
            root.removeHandler(h)
    h = Handler(sink, name, run.current_step, extra_kvs)
    root.addHandler(h)
    run.handler = h
    if root.level == logging.WARNING:
        root.setLevel(logging.INFO)
    run.logger.setLevel(logging.DEBUG)
    return h
