"""go-plugin's side of a pack: the handshake, and the serve loop.

A host starts the pack with the magic cookie in its environment and the
protocol versions it speaks in PLUGIN_PROTOCOL_VERSIONS. The pack listens
on a Unix socket in a directory only this user can enter, writes
go-plugin's handshake line on fd 1 (CORE|VERSION|unix|SOCKET|grpc|) and
serves gRPC there (_h2): the pack service's Describe and Run, and
go-plugin's GRPCController.Shutdown. go-plugin's other services, the
broker and the stdio stream, are answered UNIMPLEMENTED, which go-plugin's
client takes as "not offered".

describe() and run() are called on the main thread; the sockets are read
on threads of their own.
"""

import _signal  # signal's C module; signal wraps it in enums
import os
import socket
import sys
import threading

from . import _h2, _wire

__all__ = ["serve", "started", "Call", "RPCError", "COOKIE_KEY", "COOKIE_VALUE", "VERSIONS"]

COOKIE_KEY = "TASKHOST_PACK_PLUGIN"
COOKIE_VALUE = "3f0c9a1e6b7d4c2a"

# The pack protocol versions this SDK speaks (internal/protocol.Versions).
VERSIONS = (1, 2)

# go-plugin's core protocol version: the handshake line's first field.
CORE_VERSION = 1

# A host that dials its packs over TLS hands them key pairs here, and
# speaks version 1 only that way: such a host is not offered version 1
# (internal/protocol.ServedPluginSets).
TLS_HOST_ENV = "TASKHOST_PACK_TLS"

SOCKET_DIR_ENV = "PLUGIN_UNIX_SOCKET_DIR"

DESCRIBE = "/taskhost.pack.v1.Pack/Describe"
RUN = "/taskhost.pack.v1.Pack/Run"
SHUTDOWN = "/plugin.GRPCController/Shutdown"
HEALTH = "/grpc.health.v1.Health/Check"
_MAIN = (DESCRIBE, RUN, SHUTDOWN)

NOT_A_PLUGIN = (
    "This binary is a plugin. These are not meant to be executed directly.\n"
    "Please execute the program that consumes these plugins, which will\n"
    "load any plugins automatically\n"
)


def started():
    """Whether a host started this process as a plugin."""
    return os.environ.get(COOKIE_KEY) == COOKIE_VALUE


class RPCError(Exception):
    """A refused call: a gRPC status code and a message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Call:
    """What a Run call knows beside its request: the negotiated protocol
    version, and its cancellation (the host cancelled the call, or its
    deadline passed)."""

    def __init__(self, version, request):
        self.version = version
        self._request = request
        self.cancelled = request.cancelled
        self.timeout = request.timeout

    def on_cancel(self, fn):
        """Runs fn() (on the connection's thread) when the call is
        cancelled; at once if it already is."""
        self._request.on_cancel(fn)


def negotiate(offered, ours):
    """The version to serve: the highest of offered (the host's
    PLUGIN_PROTOCOL_VERSIONS) that is one of ours; else the lowest of ours,
    as go-plugin does, which the host then refuses with both sides'
    versions."""
    for v in sorted(ours, reverse=True):
        if v in offered:
            return v
    return min(ours)


def _offered():
    out = []
    for s in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(","):
        if not s:
            continue
        try:
            out.append(int(s))
        except ValueError:
            sys.stderr.write("server sent invalid plugin version %r" % s)
    return out


def _served_versions():
    vs = list(VERSIONS)
    if os.environ.get(TLS_HOST_ENV) and 1 in vs and len(vs) > 1:
        vs.remove(1)
    return vs


# -- the socket's directory

_cleanup_dir = None


def _private_dir(path):
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISDIR(st.st_mode) and st.st_mode & 0o077 == 0 and st.st_uid == os.geteuid()


def _socket_dir():
    """A directory only this user can enter for the socket: the host's
    (PLUGIN_UNIX_SOCKET_DIR) if it is one, else one of the pack's own, made
    in it (or in the temporary directory) and removed on exit."""
    global _cleanup_dir
    given = os.environ.get(SOCKET_DIR_ENV, "")
    if given and _private_dir(given):
        return given
    parent = given or os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(parent, "taskhost-pack-%d" % int.from_bytes(os.urandom(4), "big"))
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        _cleanup_dir = path
        os.environ[SOCKET_DIR_ENV] = path
        return path
    raise OSError("cannot make a private directory for the pack's socket in " + parent)


def _remove_dir():
    global _cleanup_dir
    path, _cleanup_dir = _cleanup_dir, None
    if path:
        try:
            for name in os.listdir(path):
                os.unlink(os.path.join(path, name))
            os.rmdir(path)
        except OSError:
            pass


# -- the end of the process

def _stop_group(why):
    """Kills this pack's process group (the host made the pack its leader,
    and the task's children are in it), this process with it, and exits."""
    try:
        os.write(2, ("stopping the task and every process it started: %s\n" % why).encode())
    except OSError:
        pass
    _remove_dir()
    if os.getpgrp() == os.getpid():
        try:
            os.killpg(os.getpid(), _signal.SIGKILL)
        except OSError:
            pass
    os._exit(3)


def _on_sigterm(signum, frame):
    _stop_group("SIGTERM (the host died or was told to stop)")


def _watch_parent(ppid, wakeup):
    """Ends the pack when the host dies: the kernel sends SIGTERM then
    (the host asks for it), which the signal's wake-up fd shows this thread
    whatever the main thread is doing; and the parent is checked twice a
    second in case no signal came."""
    import select

    while True:
        r, _, _ = select.select([wakeup], [], [], 0.5)
        if r:
            try:
                data = os.read(wakeup, 64)
            except BlockingIOError:
                data = b""
            if _signal.SIGTERM in data:
                _stop_group("SIGTERM (the host died or was told to stop)")
        if os.getppid() != ppid:
            _stop_group("the host went away")


def _exit(code):
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    _remove_dir()
    os._exit(code)


# -- serving

def serve(describe, run):
    """Serves the pack to the host that started this process; never
    returns. describe() returns a _wire.DescribeResponse; run(request, call)
    takes a _wire.RunRequest and a Call and returns a _wire.RunResponse, or
    raises RPCError."""
    if not started():
        sys.stderr.write(NOT_A_PLUGIN)
        sys.stderr.flush()
        os._exit(1)
    # Nothing may reach fd 1 but the handshake line.
    if sys.stdout is not None and sys.stdout is not sys.stderr:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        sys.stdout = sys.stderr

    version = negotiate(_offered(), _served_versions())
    try:
        sock_dir = _socket_dir()
    except OSError as e:
        sys.stderr.write("not serving: %s\n" % e)
        os._exit(1)

    # The host's death: SIGTERM, seen by a thread through the wake-up fd.
    ppid = os.getppid()
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    _signal.signal(_signal.SIGTERM, _on_sigterm)
    _signal.set_wakeup_fd(w)
    threading.Thread(target=_watch_parent, args=(ppid, r), name="taskhost-parent", daemon=True).start()

    # Standard input is the host's: the pack does not read it.
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:
        pass

    path = os.path.join(sock_dir, "plugin%d" % int.from_bytes(os.urandom(4), "big"))
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(8)

    calls = _Queue()

    def dispatch(req):
        if req.method == HEALTH:
            req.reply(b"\x08\x01")  # SERVING
            return
        calls.put(req)

    def is_unary(method):
        return method in _MAIN or method == HEALTH

    def accept():
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            c = _h2.Conn(conn, dispatch, is_unary)
            threading.Thread(target=c.serve, name="taskhost-conn", daemon=True).start()

    threading.Thread(target=accept, name="taskhost-accept", daemon=True).start()

    line = "%d|%d|unix|%s|grpc|\n" % (CORE_VERSION, version, path)
    os.write(1, line.encode())

    try:
        while True:
            req = calls.get()
            if req.method == SHUTDOWN:
                req.reply(b"")
                _exit(0)
            try:
                if req.method == DESCRIBE:
                    req.reply(describe().encode())
                else:
                    res = run(_wire.RunRequest.decode(req.body), Call(version, req))
                    req.reply(res.encode())
            except RPCError as e:
                req.reply(status=e.code, message=e.message)
            except Exception as e:
                import traceback

                traceback.print_exc()
                req.reply(status=_h2.UNKNOWN, message="%s: %s" % (type(e).__name__, e))
    finally:
        # sys.exit or KeyboardInterrupt from a task: the process ends.
        _remove_dir()


class _Queue:
    """A queue of calls for the main thread, whose get() a signal can
    interrupt (a Condition's wait is a lock's acquire)."""

    def __init__(self):
        self._items = []
        self._cv = threading.Condition()

    def put(self, item):
        with self._cv:
            self._items.append(item)
            self._cv.notify()

    def get(self):
        with self._cv:
            while not self._items:
                self._cv.wait()
            return self._items.pop(0)


# Before serving, what Python prints must not reach fd 1, where the
# handshake line goes: it goes to stderr, which the host keeps in the
# task's log.
if started() and sys.stdout is not None:
    sys.stdout = sys.stderr
