"""The Run call of a pack served to a host: a RunRequest becomes a T and
its end a RunResponse, as the Go SDK's pack server does
(sdk/internal/packserver): the task's log file (fd 2 too), the handshake
cookie removed, sensitive values masked, cancellation, hooks, the
interactive terminal, outputs and last_seq."""

import _signal  # signal's C module: signal adds enums a task does not need
import os
import sys
import threading
import time

# How long the events may take to reach the hub once the task has ended.
FLUSH_TIMEOUT = 30.0


def serve(pack):
    """Serves pack to the host that started this process (does not return
    until the host is done with it)."""
    from . import _plugin
    # go-plugin hands the pack the host's standard input, often the
    # user's terminal, which a pack in a process group of its own must not
    # read; a task reads end of file there (an interactive one gets the
    # terminal as fds 3 and 4).
    null_stdin()
    _plugin.serve(pack.describe_wire, lambda req, call: run(pack, req, call))


def null_stdin():
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
    except OSError:
        pass


class Masking:
    """An emitter that hides sensitive values in each event's name, reason
    and data before it goes on."""

    def __init__(self, em, masker):
        self.em = em
        self.masker = masker

    def emit(self, ev):
        m = self.masker
        if ev.get("name"):
            ev["name"] = m.string(ev["name"])
        if ev.get("reason"):
            ev["reason"] = m.string(ev["reason"])
        if ev.get("data"):
            ev["data"] = m.json(ev["data"])
        self.em.emit(ev)

    def flush(self, timeout=None):
        return self.em.flush(timeout)

    def close(self):
        self.em.close()


def _interrupt_main():
    """Raises KeyboardInterrupt in the main thread, waking it from a sleep
    or a blocking read (a real SIGINT to that thread)."""
    try:
        _signal.pthread_kill(threading.main_thread().ident, _signal.SIGINT)
    except (AttributeError, OSError, ValueError):
        import _thread
        _thread.interrupt_main()


class _Terminal:
    """sys.stdin and sys.stdout as the user's terminal (fds 3 and 4) while
    an interactive task runs."""

    def __enter__(self):
        self.saved = sys.stdin, sys.stdout
        sys.stdin = open(3, "r", closefd=False)
        sys.stdout = open(4, "w", buffering=1, closefd=False)
        return self

    def __exit__(self, *exc):
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        sys.stdin, sys.stdout = self.saved
        return False


def run(pack, req, call):
    """Runs req (a _wire.RunRequest) for call (the transport's Call) and
    returns its _wire.RunResponse; _plugin.RPCError when the pack cannot
    run it."""
    from . import _log, _mask, _mem, _pack, _plugin, _t, _wire
    from . import _results as R
    hook = req.hook if req.hook is not None and req.hook.name else None
    try:
        fn = pack.callee(req.task, req.args_json, hook)
    except _pack.CallError as e:
        raise _plugin.RPCError(2, str(e)) from None  # codes.Unknown, as a Go pack's error
    # Processes this task starts are not plugins.
    os.environ.pop(_pack.COOKIE_KEY, None)

    masker = _mask.Masker(req.sensitive)
    lf = None
    if req.log_dir:
        try:
            lf = _log.LogFile.open(req.log_dir, "task.log", masker)
        except OSError as e:
            raise _plugin.RPCError(2, "open the task's log: %s" % e) from None
        # Tracebacks, prints to stderr (and stdout, which is stderr here)
        # land in the log, in order, even if the host is gone; so does
        # what is written to fd 1 itself, by C code or a child that
        # inherits it (subprocess.run without capture): the handshake is
        # done, and the host reads nothing more there.
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(lf.fd, 2)
        os.dup2(lf.fd, 1)
        sink = lf
    else:
        sink = _log.StreamSink(sys.stderr, masker)

    hub = req.hub if req.hub is not None and req.hub.url else None
    if hub is not None:
        from . import _emit
        try:
            em = _emit.Hub.dial(hub, "task %s (pid %d)" % (req.task_id, os.getpid()), "")
        except _emit.HubError as e:
            if lf is not None:
                lf.close()
            raise _plugin.RPCError(2, str(e)) from None
    else:
        em = _mem.Mem()
    emitter = em if masker.empty else Masking(em, masker)
    outputs = _t.Outputs(pack.output_names(req.task)) if hook is None else None
    run_ = _t.Run(req.task_id, emitter, log=lf, hub=hub, log_dir=req.log_dir, outputs=outputs, masker=masker)
    if req.deadline_unix_nano:
        run_.deadline = req.deadline_unix_nano / 1e9
    handler = _t.attach_logging(run_, sink, req.task_id)
    em.on_refused = lambda msg: run_.logger.error("%s", msg)

    def cancel():
        if run_.cancelled.is_set():
            return
        dl = run_.deadline
        run_.cause = "context deadline exceeded" if dl is not None and time.time() >= dl else "context canceled"
        run_.cancelled.set()
        if run_.in_task:
            _interrupt_main()

    if threading.current_thread() is threading.main_thread():
        # A pack started with SIGINT ignored would not see the interrupt.
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    call.on_cancel(cancel)
    if call.cancelled.is_set():
        cancel()
    try:
        if req.interactive:
            with _Terminal():
                r, reason = fn(run_)
        else:
            r, reason = fn(run_)
    except KeyboardInterrupt:
        # The interrupt came between the task's end and its record.
        r, reason = R.Aborted, run_.stop_reason()

    last, err = em.flush(FLUSH_TIMEOUT)
    if err:
        # The record lacks what the hub did not store: the task is
        # Errored, and says why. last is the last event stored.
        run_.logger.error("not every result event reached the hub: error=%s", err)
        r = R.rollup(r, R.Errored)
        why = "not every result event was stored by the hub: " + str(err)
        reason = why + "; " + reason if reason else why
    em.close()
    import logging
    logging.getLogger().removeHandler(handler)
    if lf is not None:
        # fd 2 stays the log file: what the process writes until it exits
        # belongs there.
        pass
    return _wire.RunResponse(result=r.name, reason=masker.string(reason), last_seq=last,
                             outputs=outputs.snapshot() if outputs is not None else {})
