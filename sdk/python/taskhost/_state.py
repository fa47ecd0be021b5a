"""The run's shared state, as a task sees it (t.state): the Python form of
the Go SDK's state client (sdk/internal/stateclient).

The host keeps the state and serves it on a Unix socket of the run's; the
protocol is docs/protocol.md's "Shared state": frames of a 4-byte
big-endian length and a message, one request and one answer at a time on
a connection, the first request a hello with the task's token. Every
method tries again through a lost connection, and applies each change once:
a write carries this process's count of its writes, and the server answers
a number it has seen with its first answer instead of applying the write
again. So a counter never loses or doubles an increment, and a
compare-and-swap never applies twice. Values are JSON.
"""

import itertools
import os
import socket
import struct
import threading
import time

__all__ = ["State", "Lock", "Watch", "Change", "StateError", "NotFound", "Exists", "Conflict", "BadKey",
           "TooLarge", "NotCounter", "NotHolder", "NoState", "BarrierError", "StateFull"]


class StateError(Exception):
    """An error of the shared state; the others are its kinds."""


class NotFound(StateError):
    """The key has no value."""


class Exists(StateError):
    """create found the key already set."""


class Conflict(StateError):
    """compare_and_swap's revision is not the key's latest."""


class BadKey(StateError):
    """A key or name with characters the store does not allow."""


class TooLarge(StateError):
    """A value over MAX_VALUE_BYTES as JSON."""


class NotCounter(StateError):
    """add on a key that holds something other than an integer."""


class NotHolder(StateError):
    """unlock of a lock this process no longer holds."""


class NoState(StateError):
    """The task runs without a host (by hand): there is no run to share state with."""


class BarrierError(StateError):
    """A barrier used inconsistently (another n, joined after its release), or not released in time."""


class StateFull(StateError):
    """The write would take the run's shared state over its limit (max_state_bytes)."""


MAX_VALUE_BYTES = 512 << 10
MAX_FRAME = MAX_VALUE_BYTES + (64 << 10)
# How long one try of an operation may take before it is taken as lost.
ATTEMPT = 1.0
# How long the server holds a lock or barrier request before it answers "wait".
MAX_WAIT = 1.0
FULL_PREFIX = "the shared state is full: "
RESERVED = "_"

NO_STATE = "shared state needs a host: run the task with `taskhost run`"
DENIED = "the state server refused this task's credentials"

_key_re = None


def _check_key(key):
    global _key_re
    if _key_re is None:
        import re

        _key_re = re.compile(r"[-/_=A-Za-z0-9]+(\.[-/_=A-Za-z0-9]+)*\Z")
    if not isinstance(key, str) or not _key_re.match(key):
        raise BadKey("invalid key %s: use dot-separated tokens of letters, digits, '-', '_', '=' and '/'" % _quote(key))
    if key.startswith(RESERVED):
        raise BadKey("invalid key %s: keys starting with %s are the store's own" % (_quote(key), _quote(RESERVED)))


def _quote(s):
    import json

    return json.dumps(s) if isinstance(s, str) else repr(s)


# The wire: uvarints, zig-zag varints, lengths and bytes (internal/statekv/wire.go).


def _uv(b, v):
    while v > 0x7F:
        b.append((v & 0x7F) | 0x80)
        v >>= 7
    b.append(v)


def _zz(b, v):
    _uv(b, (v << 1) if v >= 0 else ((-v) << 1) - 1)


def _bytes(b, e):
    _uv(b, len(e))
    b += e


def _request(op, id=0, key="", value=b"", rev=0, delta=0, n=0, dur=0, holder=""):
    b = bytearray(b"\0\0\0\0")
    b.append(op)
    _uv(b, id)
    _bytes(b, key.encode())
    _bytes(b, value)
    _uv(b, rev)
    _zz(b, delta)
    _uv(b, n)
    _zz(b, dur)
    _bytes(b, holder.encode())
    struct.pack_into(">I", b, 0, len(b) - 4)
    return b


def _read_uv(d, i):
    r = s = 0
    while True:
        c = d[i]
        i += 1
        r |= (c & 0x7F) << s
        if c < 0x80:
            return r, i
        s += 7


class _Response:
    __slots__ = ("status", "rev", "n", "key", "value", "msg")

    def __init__(self, d):
        self.status = chr(d[0])
        self.rev, i = _read_uv(d, 1)
        u, i = _read_uv(d, i)
        self.n = (u >> 1) ^ -(u & 1)
        k, i = _read_uv(d, i)
        self.key = d[i : i + k].decode("utf-8", "replace")
        i += k
        k, i = _read_uv(d, i)
        self.value = d[i : i + k] if k else None
        i += k
        k, i = _read_uv(d, i)
        self.msg = d[i : i + k].decode("utf-8", "replace")


class _Conn:
    """One connection to the state server; one request at a time."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def round_trip(self, req, timeout):
        self.sock.settimeout(timeout)
        self.sock.sendall(req)
        return self.read()

    def read(self):
        buf = self.buf
        while len(buf) < 4:
            self._more()
        n = struct.unpack_from(">I", buf)[0]
        if n > MAX_FRAME:
            raise OSError("state protocol: a frame of %d bytes, over the limit of %d" % (n, MAX_FRAME))
        while len(buf) < 4 + n:
            self._more()
        msg = bytes(buf[4 : 4 + n])
        del buf[: 4 + n]
        return _Response(msg)

    def _more(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise OSError("state connection closed")
        self.buf += data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class _Denied(Exception):
    pass


def _failure(p, key):
    """The error for an answer that is not "o"."""
    s = p.status
    if s == "n":
        return NotFound("key not found: %s" % _quote(key))
    if s == "e":
        return Exists("key already exists: %s" % _quote(key))
    if s == "c":
        return Conflict("revision is not the latest: %s is at revision %d" % (_quote(key), p.rev))
    if s == "i":
        return NotCounter("not an integer counter: %s holds %s" % (_quote(key), (p.value or b"").decode("utf-8", "replace")))
    if s == "h":
        return NotHolder("lock not held: %s (its lease ran out and another process took it, or it was released)" % key)
    if s == "b":
        return BarrierError("barrier misuse: %s" % p.msg)
    if s == "x":
        return StateError(DENIED)
    if s == "v" and p.msg.startswith(FULL_PREFIX):
        return StateFull("the shared state is full: " + p.msg[len(FULL_PREFIX):])
    return StateError("state: %s: %s (status %s)" % (_quote(key), p.msg, _quote(s)))


class Change:
    """One change a watch saw: the key, its new value (None when deleted),
    its revision, and whether it was deleted."""

    __slots__ = ("key", "value", "revision", "deleted")

    def __init__(self, key, value, revision, deleted):
        self.key, self.value, self.revision, self.deleted = key, value, revision, deleted

    def __repr__(self):
        return "Change(key=%r, value=%r, revision=%d, deleted=%r)" % (self.key, self.value, self.revision, self.deleted)

    def __eq__(self, other):
        return type(other) is Change and (self.key, self.value, self.revision, self.deleted) == (
            other.key, other.value, other.revision, other.deleted)


class State:
    """One process's client of the run's shared state: a key/value store
    that every task of the run and every process they start reaches, with
    revisions, compare-and-swap, counters, locks, barriers and watches.
    Safe for use from several threads.

    socket_path is the hub's state_socket ("" without a host: every call
    raises NoState), token the task's, name this process's (the server
    keeps its answers to this process's writes under it; a random part is
    added, so that every process has its own). cancelled, a
    threading.Event, ends the tries through a lost connection.
    """

    def __init__(self, socket_path, token, name="", cancelled=None):
        self._socket = socket_path
        self._token = token
        self._writer = "%s%d/%s" % (name + " " if name else "", os.getpid(), os.urandom(6).hex())
        self._cancelled = cancelled
        self._ops = itertools.count(1)
        self._idle = []
        self._mu = threading.Lock()

    # Connections.

    def _dial(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(ATTEMPT)
            sock.connect(self._socket)
            c = _Conn(sock)
            p = c.round_trip(_request(ord("h"), key=self._token, holder=self._writer), ATTEMPT)
        except BaseException:
            sock.close()
            raise
        if p.status != "o":
            sock.close()
            raise _Denied()
        return c

    def _conn(self):
        with self._mu:
            if self._idle:
                return self._idle.pop()
        return self._dial()

    def _once(self, req, long):
        c = self._conn()
        try:
            p = c.round_trip(req, ATTEMPT + (MAX_WAIT if long else 0))
        except BaseException:
            c.close()
            raise
        if long:
            # A connection that asked to be held is served apart by the
            # host from then on, more slowly: it is not used again.
            c.close()
        else:
            with self._mu:
                self._idle.append(c)
        return p

    def _call(self, what, req, long=False):
        """Sends req and returns the answer, trying again (with the same
        request, which the server answers once) after a lost connection."""
        if not self._socket:
            raise NoState(NO_STATE)
        pause = 0.01
        while True:
            if self._cancelled is not None and self._cancelled.is_set():
                raise StateError("%s: cancelled" % what)
            try:
                return self._once(req, long)
            except _Denied:
                raise StateError("%s: %s" % (what, DENIED)) from None
            except OSError:
                pass
            if self._cancelled is not None:
                if self._cancelled.wait(pause):
                    raise StateError("%s: cancelled" % what)
            else:
                time.sleep(pause)
            pause = min(2 * pause, 0.5)

    def _write(self, what, key, op, **fields):
        p = self._call(what + " " + key, _request(op, id=next(self._ops), key=key, **fields))
        if p.status != "o":
            raise _failure(p, key)
        return p

    @staticmethod
    def _encode(key, value):
        import json

        try:
            b = json.dumps(value, separators=(",", ":")).encode()
        except (TypeError, ValueError) as e:
            raise StateError("value for %s does not encode as JSON: %s" % (_quote(key), e)) from None
        if len(b) > MAX_VALUE_BYTES:
            raise TooLarge("value too large: %s is %d bytes as JSON, over the limit of %d" % (
                _quote(key), len(b), MAX_VALUE_BYTES))
        return b

    # The operations.

    def get(self, key):
        """Returns (value, revision); NotFound when the key has no value."""
        _check_key(key)
        p = self._call("get " + key, _request(ord("g"), key=key))
        if p.status != "o":
            raise _failure(p, key)
        import json

        return json.loads(p.value) if p.value is not None else None, p.rev

    def put(self, key, value):
        """Sets key to value, whatever it held; returns the new revision."""
        _check_key(key)
        return self._write("put", key, ord("p"), value=self._encode(key, value)).rev

    def create(self, key, value):
        """Sets key to value only if it has none; Exists if it has one."""
        _check_key(key)
        return self._write("create", key, ord("c"), value=self._encode(key, value)).rev

    def compare_and_swap(self, key, value, revision):
        """Sets key to value only if its latest revision is revision;
        Conflict if it is not. Returns the new revision."""
        _check_key(key)
        if not revision:
            raise Conflict("revision is not the latest: compare_and_swap needs the revision read (use create for a key that has none)")
        try:
            return self._write("compare-and-swap", key, ord("s"), value=self._encode(key, value), rev=revision).rev
        except Conflict as e:
            raise Conflict("%s, not %d" % (e, revision)) from None

    def delete(self, key):
        """Removes key's value; deleting a key that has none is no error."""
        _check_key(key)
        self._write("delete", key, ord("d"))

    def keys(self, prefix=""):
        """The keys that have a value and start with prefix, sorted."""
        p = self._call("keys", _request(ord("k"), key=prefix))
        if p.status != "o":
            raise _failure(p, prefix)
        if not p.value:
            return []
        return p.value.decode().split("\n")

    def add(self, key, delta=1):
        """Adds delta to the integer counter at key (absent counts as 0) and
        returns the new value. Adds from any number of processes all count,
        each once."""
        _check_key(key)
        return self._write("add to", key, ord("a"), delta=int(delta)).n

    def lock(self, name, lease=30.0):
        """Takes the lock called name, waiting until it is free. lease (s)
        is how long it outlives a holder that died without releasing it;
        while this process lives, a thread renews it. A context manager."""
        _check_key(name)
        if lease <= 0:
            lease = 30.0
        # Each lock() call is a holder of its own, so that threads of one
        # process wait for each other too.
        holder = "%s#%d" % (self._writer, next(self._ops))
        dur = int(lease * 1e9)
        while True:
            p = self._call("lock " + name, _request(ord("l"), key=name, holder=holder, dur=dur), long=True)
            if p.status == "o":
                return Lock(self, name, holder, lease)
            if p.status != "w":
                raise _failure(p, name)

    def barrier(self, name, n, timeout=None):
        """Waits until n participants (calls of barrier, from any process of
        the run) have reached the barrier called name, then lets them all
        go on. A barrier is used once; every participant gives the same n.
        BarrierError when misused, or not released within timeout seconds."""
        _check_key(name)
        if n < 1:
            raise BarrierError("barrier misuse: barrier %s: n must be at least 1, not %d" % (name, n))
        me = "%s#%d" % (self._writer, next(self._ops))
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            p = self._call("barrier " + name, _request(ord("b"), key=name, holder=me, n=n), long=True)
            if p.status == "o":
                return
            if p.status != "w":
                raise _failure(p, name)
            if end is not None and time.monotonic() >= end:
                raise BarrierError("barrier %s: not released within %gs" % (name, timeout))

    def watch(self, prefix=""):
        """An iterator of every change to the keys that start with prefix,
        in order, from now on (Change objects); close() it to stop. Through
        a lost connection it goes on from the last change it gave; if the
        host no longer keeps the changes since, it ends early."""
        if not self._socket:
            raise NoState(NO_STATE)
        return Watch(self, prefix)


class Lock:
    """A lock held by this process, its lease renewed by a thread until
    unlock(); with ... as lock: unlocks at the end."""

    def __init__(self, state, name, holder, lease):
        self._s, self.name, self._holder, self._lease = state, name, holder, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="taskhost-lock", daemon=True)
        self._thread.start()

    def _renew(self):
        dur = int(self._lease * 1e9)
        while not self._stop.wait(self._lease / 3):
            try:
                self._s._write("renew lock", self.name, ord("r"), holder=self._holder, dur=dur)
            except NotHolder:
                return  # lost: unlock will say so
            except StateError:
                pass

    def unlock(self):
        """Releases the lock; NotHolder if this process no longer holds it."""
        if self._stop.is_set():
            raise NotHolder("lock not held: %s" % self.name)
        self._stop.set()
        self._thread.join()
        self._s._write("unlock", self.name, ord("u"), holder=self._holder)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unlock()
        return False


class Watch:
    """The changes to the keys under a prefix, as an iterator; close() ends it."""

    def __init__(self, state, prefix):
        self._s, self._prefix = state, prefix
        self._closed = False
        self._conn, self._from = self._open(0)

    def _open(self, rev):
        s = self._s
        pause = 0.01
        while True:
            if self._closed or (s._cancelled is not None and s._cancelled.is_set()):
                return None, rev
            try:
                c = s._dial()
                try:
                    p = c.round_trip(_request(ord("w"), key=self._prefix, rev=rev), ATTEMPT)
                except BaseException:
                    c.close()
                    raise
                if p.status != "o":
                    c.close()
                    raise _failure(p, self._prefix)
                c.sock.settimeout(None)
                return c, p.rev
            except _Denied:
                raise StateError("watch: " + DENIED) from None
            except OSError:
                time.sleep(pause)
                pause = min(2 * pause, 0.5)

    def __iter__(self):
        return self

    def __next__(self):
        import json

        while True:
            c = self._conn
            if c is None or self._closed:
                raise StopIteration
            try:
                p = c.read()
            except OSError:
                c.close()
                if self._closed:
                    raise StopIteration from None
                self._conn, _ = self._open(self._from)
                continue
            if p.status != "g":
                self.close()  # "p": the changes since are no longer kept
                raise StopIteration
            self._from = p.rev
            if p.value is None:
                return Change(p.key, None, p.rev, True)
            return Change(p.key, json.loads(p.value), p.rev, False)

    def close(self):
        """Ends the watch (from any thread)."""
        self._closed = True
        c = self._conn
        if c is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
