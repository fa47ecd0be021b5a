"""The task's result events, published to the run's JetStream stream on the hub.

Hub is the Python form of the Go SDK's emitter (sdk/internal/emit/hub.go),
with the same guarantees: events go in batches (an EventBatch message),
each with a message id `<msg_id_prefix><src or "main">.<first>-<last>`, so
the hub stores each batch once however often it is sent. An event goes at
once when nothing is in flight; otherwise it joins the next batch, which
goes when it holds 512 events or 64 KiB, when it is 5 ms old, or at
flush. A batch whose acknowledgement does not come is sent again (after
5 s, or at once after a reconnect) until it is acknowledged, until the hub
has acknowledged nothing for ACK_WAIT, or at once when the hub's answer
is final (a refusal): then reporting has failed, and the events from then
on are dropped (the hub applies a process's events in order, so none after
a lost one could count).

The JetStream acknowledgements come back on `<inbox_prefix>.<n>`, one
subscription `<inbox_prefix>.>` for them all: the task's token may
subscribe there only.
"""

import os
import threading
import time

from . import _nats
from ._wire import LogRef, _uvarint

__all__ = ["Hub", "HubError"]

MAX_BATCH = 512
MAX_BATCH_BYTES = 64 << 10
LINGER = 0.005
# How many batches may wait for their acknowledgement before emit waits
# for the oldest half.
MAX_UNACKED = 64
# One event's limit; larger step data is replaced by a note saying so.
MAX_EVENT_BYTES = 512 << 10
# A batch without an answer for this long is sent again.
RESEND_AFTER = 5.0
# How long the emitter waits for the hub to acknowledge any of the events
# it waits for before it gives up (a module variable for tests).
ACK_WAIT = 60.0

MAX_NAME_BYTES = 4096
MAX_REASON_BYTES = 64 << 10

# JetStream's error codes that make a refusal final.
_ERR_MESSAGE_TOO_LARGE = 10054
_ERR_STORE_FAILED = 10077
_STREAM_FULL = ("maximum bytes exceeded", "maximum messages exceeded", "maximum messages per subject exceeded")

_REVOKED = " (its credentials were revoked: the task went over its limits, or its attempt ended)"


class HubError(Exception):
    """The hub cannot be reached; str() says why, worded as the Go SDK's."""


class APIError(Exception):
    """JetStream's answer refusing a batch."""

    def __init__(self, code, err_code, description):
        super().__init__("nats: API error: code=%d err_code=%d description=%s" % (code, err_code, description))
        self.code, self.err_code, self.description = code, err_code, description


def _refusal(err):
    """Why err (the answer to a batch, or the failure to send it) is final,
    or None when sending again may work."""
    if err is None:
        return None
    if isinstance(err, _nats.Closed):
        return str(err) + _REVOKED
    if isinstance(err, _nats.MaxPayload):
        return "a batch larger than the hub takes: %s" % err
    if isinstance(err, APIError):
        if err.err_code == _ERR_MESSAGE_TOO_LARGE:
            return "a batch larger than the hub takes: %s" % err
        if err.err_code == _ERR_STORE_FAILED and err.description.lower() in _STREAM_FULL:
            return "the run's stream is full (max_run_bytes): %s" % err
    return None


def _go_duration(d):
    """d seconds as Go prints a time.Duration (1m0s, 300ms, 5s)."""
    if d < 1:
        return "%gms" % round(d * 1000, 3)
    m, s = divmod(d, 60)
    if m:
        return "%dm%gs" % (m, s)
    return "%gs" % s


def _fit(s, limit):
    """s cut to limit bytes of UTF-8, saying so (as the Go SDK's report.Fit)."""
    e = s.encode("utf-8", "replace")
    if len(e) <= limit:
        return s
    note = " … (%d bytes cut)" % (len(e) - limit)
    cut = limit - len(note.encode()) - 20
    while cut > 0 and (e[cut] & 0xC0) == 0x80:
        cut -= 1
    return e[:cut].decode() + " … (%d bytes cut)" % (len(e) - cut)


# The string fields of an Event after seq, in order: their key bytes.
_FIELDS = ((b"\x1a", "kind"), (b"\x22", "id"), (b"\x2a", "parent"), (b"\x32", "name"), (b"\x3a", "type"),
           (b"\x42", "result"), (b"\x4a", "reason"))
_LIMITS = {"name": MAX_NAME_BYTES, "reason": MAX_REASON_BYTES}


def _time_field(v):
    """Field 11, time_unix_nano: a varint of 9 bytes for any time from
    1972 to 2262 (unrolled: this is most of an event's encoding)."""
    return bytes((0x58, v & 0x7F | 0x80, v >> 7 & 0x7F | 0x80, v >> 14 & 0x7F | 0x80, v >> 21 & 0x7F | 0x80,
                  v >> 28 & 0x7F | 0x80, v >> 35 & 0x7F | 0x80, v >> 42 & 0x7F | 0x80, v >> 49 & 0x7F | 0x80, v >> 56))


def _head(src):
    """The encoding of field 1, src."""
    b = bytearray()
    if src:
        e = src.encode()
        b += b"\x0a"
        _uvarint(b, len(e))
        b += e
    return bytes(b)


def _pid_field(pid):
    b = bytearray(b"\x60")
    _uvarint(b, pid)
    return bytes(b)


def encode_event(ev, seq, src, now, pid):
    """The Event message of ev (a dict), stamped."""
    return _encode(ev, seq, _head(src), now, _pid_field(pid))


def _encode(ev, seq, head, now, tail):
    """encode_event, with src and pid encoded already (head, tail)."""
    b = bytearray(head)
    b += b"\x10"
    _uvarint(b, seq)
    for tag, k in _FIELDS:
        v = ev.get(k)
        if v:
            e = v.encode("utf-8", "surrogateescape")
            n = len(e)
            if n >= 0x80:
                if n > 1024 and k in _LIMITS and n > _LIMITS[k]:
                    e = _fit(v, _LIMITS[k]).encode("utf-8", "surrogateescape")
                    n = len(e)
                b += tag
                _uvarint(b, n)
            else:
                b += tag
                b.append(n)
            b += e
    v = ev.get("data")
    if v:
        if isinstance(v, str):
            v = v.encode()
        b += b"\x52"
        _uvarint(b, len(v))
        b += v
    if 1 << 56 <= now < 1 << 63:
        b += _time_field(now)
    else:
        b += b"\x58"
        _uvarint(b, now)
    b += tail
    v = ev.get("logs")
    if v:
        lb = LogRef(file=v.get("file", ""), begin=v.get("begin", 0), size=v.get("size", 0))._put(bytearray())
        b += b"\x6a"
        _uvarint(b, len(lb))
        b += lb
    return b


class _Sent:
    """A batch sent, and what became of it."""

    __slots__ = ("first", "last", "data", "msg_id", "n", "ns", "gen", "err", "acked", "at")

    def __init__(self, first, last, data, msg_id):
        self.first, self.last, self.data, self.msg_id = first, last, data, msg_id
        self.n = 0  # the reply number of its latest send
        self.ns = []  # the reply numbers of all its sends
        self.gen = None  # the connection generation it went on; None: its send failed
        self.err = None  # why its send failed, or the hub's answer refusing it
        self.acked = False
        self.at = 0.0  # when it was last sent (time.monotonic)


class Hub:
    """Publishes a task's events to the hub, in batches. Make one with dial()."""

    def __init__(self):
        # One lock guards everything; _cond waits on it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._busy = False  # a thread waits in _settle: others wait for it
        self._seq = 0
        self._batch = bytearray()
        self._first = 0
        self._last = 0
        self._unacked = []
        self._pending = {}  # reply number -> _Sent
        self._n = 0
        self._stored = 0
        self._last_err = None
        self._failed = None  # why reporting failed (a str), or None
        self._refused = False
        self._dropped = 0
        self._lingering = False
        self._resend = False  # the connection came back: send again what went on the old one
        self._stop = False
        self._wake = threading.Event()
        self.on_refused = None

    @classmethod
    def dial(cls, hub, name, src=""):
        """Connects to the hub as the task that hub (a _wire.Hub) describes;
        src names this process's events ("" for the task process itself).
        Raises HubError when it cannot."""
        h = cls()
        h._src = src
        h._pid = os.getpid()
        h._head = _head(src)
        h._tail = _pid_field(h._pid)
        h._subject = hub.events_subject
        h._inbox = hub.inbox_prefix + "."
        h._id_pre = hub.msg_id_prefix + (src or "main") + "."
        try:
            h._conn = _nats.Conn(hub.url, token=hub.token, name=name, ca_pem=hub.tls_ca_pem,
                                 on_reconnect=h._reconnected, on_closed=h._notify)
        except _nats.BadCA as e:
            raise HubError("connect to the hub at %s: %s" % (hub.url, e)) from None
        try:
            h._conn.connect()
        except _nats.ConnectError as e:
            raise HubError(str(e)) from None
        h._conn.subscribe(hub.inbox_prefix + ".>", h._on_ack)
        threading.Thread(target=h._linger, name="taskhost-linger", daemon=True).start()
        return h

    # What the reader thread calls.

    def _notify(self):
        with self._cond:
            self._cond.notify_all()

    def _reconnected(self):
        """The connection is back: what went on the one that dropped (its
        answers may be lost with it) is sent again at once, by the linger
        thread, so that the hub does not hold later events waiting for it."""
        with self._cond:
            self._resend = True
            self._cond.notify_all()
        self._wake.set()

    def _on_ack(self, subject, reply, headers, payload):
        try:
            n = int(subject[len(self._inbox):])
        except ValueError:
            return
        err = None
        if headers[:12] == b"NATS/1.0 503":
            err = _nats.NotConnected("nats: no responders available for request")
        elif b'"error"' in payload:
            import json

            try:
                e = json.loads(payload)["error"]
                err = APIError(e.get("code", 0), e.get("err_code", 0), e.get("description", ""))
            except (ValueError, KeyError, TypeError, AttributeError):
                err = APIError(0, 0, payload[:200].decode("utf-8", "replace"))
        with self._cond:
            s = self._pending.get(n)
            if s is None:
                return
            if err is None:
                s.acked = True
                for k in s.ns:
                    self._pending.pop(k, None)
            elif not s.acked and n == s.n:
                self._last_err = err
                s.gen, s.err = None, err
            self._cond.notify_all()

    # Emitting.

    def emit(self, ev):
        """Numbers ev (a dict; see the module's users) and sends it, in a batch."""
        with self._lock:
            while self._busy:
                self._cond.wait()
            self._seq += 1
            seq = self._seq
            if self._failed is not None:
                self._dropped += 1
                return
            # An event may name another process (a child's log event
            # carries the child's pid), as the Go SDK's do.
            tail = self._tail if not ev.get("pid") else _pid_field(ev["pid"])
            data = _encode(ev, seq, self._head, time.time_ns(), tail)
            n = len(data)
            if n > MAX_EVENT_BYTES:
                ev = dict(ev)
                ev["data"] = ('{"error":"step data of %d bytes dropped: over the limit of %d"}'
                              % (n, MAX_EVENT_BYTES)).encode()
                data = _encode(ev, seq, self._head, time.time_ns(), tail)
                n = len(data)
            batch = self._batch
            if batch and len(batch) + n > MAX_BATCH_BYTES:
                self._send_batch()
                if self._failed is not None:
                    self._dropped += 1
                    return
                batch = self._batch
            if not batch:
                self._first = seq
            self._last = seq
            # The batch is an EventBatch: each event is field 1.
            if n < 0x80:
                batch += b"\x0a"
                batch.append(n)
            else:
                batch += b"\x0a"
                _uvarint(batch, n)
            batch += data
            # At once when nothing is in flight (a lone event is not held
            # back); while a batch is in flight, fill the next one.
            if seq - self._first + 1 >= MAX_BATCH or not self._in_flight():
                self._send_batch()
            elif not self._lingering:
                self._lingering = True
                self._wake.set()

    def _in_flight(self):
        """Whether the last batch sent waits for its answer, or for the
        connection to come back (then the events wait in the next batch)."""
        if not self._unacked:
            return False
        s = self._unacked[-1]
        return not s.acked and (s.gen is not None or isinstance(s.err, _nats.NotConnected))

    def _send_batch(self):
        """Sends the batch being filled, if any; the lock is held."""
        if not self._batch or self._failed is not None:
            return
        if len(self._unacked) >= MAX_UNACKED:
            err = self._settle(len(self._unacked) // 2, None)
            if err is not None:
                self._failed = err
                self._dropped += self._last - self._first + 1
                self._batch = bytearray()
                return
        s = _Sent(self._first, self._last, bytes(self._batch),
                  "%s%d-%d" % (self._id_pre, self._first, self._last))
        self._batch = bytearray()
        self._send(s)
        r = _refusal(s.err)
        if r is not None:
            self._refuse(r)
            self._dropped += s.last - s.first + 1
            return
        self._unacked.append(s)

    def _send(self, s):
        self._n += 1
        n = self._n
        s.n = n
        s.ns.append(n)
        self._pending[n] = s
        s.at = time.monotonic()
        try:
            s.gen = self._conn.publish(self._subject, s.data, reply=self._inbox + str(n), msg_id=s.msg_id)
            s.err = None
        except _nats.NatsError as e:
            s.gen, s.err = None, e

    def _refuse(self, why):
        """Stops reporting for good; the task is told once."""
        if self._failed is None:
            self._failed = "the hub refuses the task's events for good: " + why
            self._refused = True
            if self.on_refused is not None:
                self.on_refused(self._failed)
        return self._failed

    def _settle(self, n, deadline):
        """Waits until the oldest n batches are acknowledged and drops them
        from the list; returns None, or why it gave up. The lock is held
        (and let go while waiting); one thread at a time settles."""
        self._busy = True
        try:
            return self._settle_locked(n, deadline)
        finally:
            self._busy = False
            self._cond.notify_all()

    def _settle_locked(self, n, deadline):
        conn = self._conn
        stall = time.monotonic() + ACK_WAIT

        def gave_up(i, why):
            del self._unacked[:i]
            err = "events from %d on not acknowledged by the hub: %s" % (self._unacked[0].first, why)
            if self._last_err is not None:
                err += " (its last answer: %s)" % self._last_err
            return err

        for i in range(n):
            s = self._unacked[i]
            while not s.acked:
                if s.err is None and conn.closed:
                    s.gen, s.err = None, _nats.Closed(conn._closed_text())
                r = _refusal(s.err)
                if r is not None:
                    del self._unacked[:i]
                    return self._refuse(r)
                now = time.monotonic()
                if now >= stall:
                    return gave_up(i, "none acknowledged for %s" % _go_duration(ACK_WAIT))
                if deadline is not None and now >= deadline:
                    return gave_up(i, "the flush timed out")
                if s.gen is None:
                    # The send failed, or the hub refused the batch for
                    # now (its store cannot write): a moment, then again.
                    if s.err is not None and now - s.at < 0.02:
                        self._cond.wait(0.02)
                        continue
                    self._send(s)
                    continue
                if s.gen != conn.gen or now - s.at >= RESEND_AFTER:
                    # Sent on a connection that dropped since (its answer
                    # may be lost with it), or no answer: again.
                    self._send(s)
                    continue
                until = min(s.at + RESEND_AFTER, stall)
                if deadline is not None:
                    until = min(until, deadline)
                self._cond.wait(max(until - now, 0.001))
            self._stored = s.last
            stall = time.monotonic() + ACK_WAIT
        del self._unacked[:n]
        return None

    def _linger(self):
        """Sends a batch that waited LINGER; after a reconnect, first sends
        again what went on the connection that dropped, or failed to go."""
        while True:
            self._wake.wait()
            if self._stop:
                return
            time.sleep(LINGER)
            with self._cond:
                self._wake.clear()
                self._lingering = False
                if self._stop:
                    return
                if self._busy:
                    continue  # the thread that settles sends again itself
                if self._resend:
                    self._resend = False
                    gen = self._conn.gen
                    for s in self._unacked:
                        if not s.acked and s.gen != gen:
                            self._send(s)
                self._send_batch()

    # Ending.

    def flush(self, timeout=30.0):
        """Sends what is left and waits (up to timeout seconds) until every
        event is acknowledged. Returns (last_seq, None), or, when not every
        event was acknowledged, (the last acknowledged in order, why)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._busy:
                self._cond.wait()
            self._send_batch()
            if self._failed is None:
                err = self._settle(len(self._unacked), deadline)
                if err is not None and not self._refused:
                    return self._stored, err
            if self._refused:
                return self._stored, "%s; events from %d on were not stored" % (self._failed, self._stored + 1)
            if self._failed is not None:
                return self._stored, "%s; %d later events were not sent" % (self._failed, self._dropped)
            self._stored = self._seq
            return self._seq, None

    def close(self):
        """Stops sending and closes the connection."""
        self._stop = True
        self._wake.set()
        self._conn.close()
