"""A minimal HTTP/2 server for gRPC unary calls (RFC 9113, gRPC over HTTP/2).

It serves what the host's gRPC client sends a pack on the pack's Unix
socket, and nothing more: no TLS, no server push, no compression, unary
calls only. Each connection has a reader thread; a complete request is
handed to the server's dispatch function on that thread, which answers it
there or hands it on (the pack's calls go to the main thread). Answers
are written by whichever thread has them, under the connection's write
lock, within the peer's flow-control windows.
"""

import struct
import threading

from . import _hpack

__all__ = ["Conn", "Request", "H2Error"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes (RFC 9113, 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
FRAME_SIZE_ERROR, COMPRESSION_ERROR, CANCEL = 6, 9, 8

# Settings.
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT, S_INITIAL_WINDOW, S_MAX_FRAME, S_MAX_HEADER_LIST = 1, 2, 3, 4, 5, 6

# What this side receives: a large window, so that a request never waits
# for a WINDOW_UPDATE; the default frame size.
RECV_WINDOW = 1 << 30
# What the peer has sent is given back to its connection window in steps
# of this much.
GIVE_BACK = 1 << 20
MAX_FRAME = 16384
MAX_WINDOW = (1 << 31) - 1

_hdr = struct.Struct(">BHBBI")  # length as a byte and a short, type, flags, stream


def frame(ftype, flags, stream, payload=b""):
    n = len(payload)
    return _hdr.pack(n >> 16, n & 0xFFFF, ftype, flags, stream) + payload


class H2Error(Exception):
    """A connection error: the connection is closed with GOAWAY."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# gRPC status codes used here.
OK, CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL = 0, 1, 2, 4, 12, 13

_TIMEOUT_UNITS = {"H": 3600, "M": 60, "S": 1, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_TIMEOUT_DIV = {"m": 1000, "u": 1000000, "n": 1000000000}


def parse_timeout(value):
    """Seconds of a grpc-timeout header ("100m"), or None if it is not one."""
    if len(value) < 2 or value[-1] not in _TIMEOUT_UNITS or not value[:-1].isdigit() or len(value) > 9:
        return None
    unit = value[-1]
    if unit in _TIMEOUT_DIV:
        return int(value[:-1]) / _TIMEOUT_DIV[unit]
    return float(int(value[:-1]) * _TIMEOUT_UNITS[unit])


def percent_encode(message):
    """grpc-message's encoding: UTF-8, bytes outside printable ASCII and
    '%' as %XX."""
    out = []
    for b in message.encode("utf-8", "replace"):
        if 0x20 <= b <= 0x7E and b != 0x25:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


class Request:
    """One gRPC call: its method (the :path), headers, message (without the
    5-byte prefix), deadline, and its cancellation."""

    def __init__(self, conn, stream_id, headers):
        self.conn = conn
        self.stream_id = stream_id
        self.headers = headers
        self.method = headers.get(":path", "")
        self.body = b""
        self.timeout = parse_timeout(headers.get("grpc-timeout", ""))
        self.cancelled = threading.Event()
        self.done = False  # answered, or reset by the peer
        self._callbacks = []
        self._lock = threading.Lock()
        self._timer = None

    def on_cancel(self, fn):
        """Runs fn() when the call is cancelled (at once if it is already)."""
        with self._lock:
            if not self.cancelled.is_set():
                self._callbacks.append(fn)
                return
        fn()

    def cancel(self):
        with self._lock:
            if self.cancelled.is_set():
                return
            self.cancelled.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            try:
                fn()
            except Exception as e:  # a callback's failure must not end the connection
                import sys

                print("taskhost: a cancellation callback failed: %r" % (e,), file=sys.stderr)

    def start_deadline(self):
        if self.timeout is not None:
            self._timer = threading.Timer(self.timeout, self.cancel)
            self._timer.daemon = True
            self._timer.start()

    def stop_deadline(self):
        if self._timer is not None:
            self._timer.cancel()

    def reply(self, body=b"", status=OK, message=""):
        """Answers the call: its message (status OK), or a status and a
        message. An answer to a call the peer reset is dropped."""
        self.conn.reply(self, body, status, message)


class _Stream:
    __slots__ = ("id", "block", "end_after_headers", "request", "data", "send_window", "closed_remote", "unary")

    def __init__(self, sid, send_window):
        self.id = sid
        self.block = bytearray()
        self.end_after_headers = False
        self.request = None
        self.data = bytearray()
        self.send_window = send_window
        self.closed_remote = False
        self.unary = False


class Conn:
    """One HTTP/2 connection, served by serve() on the calling thread.

    dispatch(request) is called on the reader thread once a request is
    complete; is_unary(method) says whether a method is served (others
    are answered UNIMPLEMENTED when their headers arrive, so streams the
    host opens and never finishes do not hold anything).
    """

    def __init__(self, sock, dispatch, is_unary):
        self.sock = sock
        self.dispatch = dispatch
        self.is_unary = is_unary
        self.decoder = _hpack.Decoder()
        self.streams = {}
        self.wlock = threading.Lock()
        self.cv = threading.Condition()  # guards the windows and streams
        self.conn_send_window = 65535
        self.peer_initial_window = 65535
        self.peer_max_frame = 16384
        self.recv_unacked = 0  # bytes received, not yet given back to the peer's connection window
        self.closed = False
        self.last_stream = 0
        self.goaway = False

    # -- writing

    def _write(self, data):
        with self.wlock:
            if self.closed:
                return False
            try:
                self.sock.sendall(data)
            except OSError:
                return False
            return True

    def reply(self, req, body, status, message):
        req.stop_deadline()
        with self.cv:
            st = self.streams.get(req.stream_id)
            if req.done or st is None:
                req.done = True
                self.streams.pop(req.stream_id, None)
                return
        fields = [(":status", "200"), ("content-type", "application/grpc")]
        trailers = [("grpc-status", str(status))]
        if message:
            trailers.append(("grpc-message", percent_encode(message)))
        sid = req.stream_id
        if status != OK:
            # Trailers only.
            self._write_headers(sid, fields + trailers, end_stream=True)
        else:
            self._write_headers(sid, fields, end_stream=False)
            self._send_data(st, struct.pack(">BI", 0, len(body)) + body)
            self._write_headers(sid, trailers, end_stream=True)
        with self.cv:
            req.done = True
            self.streams.pop(sid, None)
            closed_remote = st.closed_remote
        if not closed_remote:
            # The peer may still send on it: tell it the call is over.
            self._write(frame(RST_STREAM, 0, sid, struct.pack(">I", NO_ERROR)))

    def _write_headers(self, sid, fields, end_stream):
        block = _hpack.encode(fields)
        flags = END_STREAM if end_stream else 0
        with self.cv:
            limit = self.peer_max_frame
        first = True
        out = bytearray()
        while True:
            chunk, block = block[:limit], block[limit:]
            last = not block
            if first:
                out += frame(HEADERS, flags | (END_HEADERS if last else 0), sid, chunk)
                first = False
            else:
                out += frame(CONTINUATION, END_HEADERS if last else 0, sid, chunk)
            if last:
                break
        self._write(bytes(out))

    def _send_data(self, st, data):
        """Sends data on stream st within the peer's windows and frame size."""
        view = memoryview(data)
        while view:
            with self.cv:
                while not self.closed and not st.request.done and (self.conn_send_window <= 0 or st.send_window <= 0):
                    self.cv.wait()
                if self.closed or st.request.done:
                    return
                n = min(len(view), self.conn_send_window, st.send_window, self.peer_max_frame)
                self.conn_send_window -= n
                st.send_window -= n
            if not self._write(frame(DATA, 0, st.id, bytes(view[:n]))):
                return
            view = view[n:]

    def close(self, code=NO_ERROR, message=""):
        """Sends GOAWAY and closes the connection; cancels its calls."""
        self._write(frame(GOAWAY, 0, 0, struct.pack(">II", self.last_stream, code) + message.encode()))
        self._closed()

    def _closed(self):
        with self.wlock:
            if self.closed:
                return
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass
        with self.cv:
            streams = list(self.streams.values())
            self.streams.clear()
            self.cv.notify_all()
        for st in streams:
            if st.request is not None:
                st.request.done = True
                st.request.cancel()

    # -- reading

    def serve(self):
        """Reads the connection until it ends; then cancels its calls."""
        f = self.sock.makefile("rb")
        try:
            if f.read(len(PREFACE)) != PREFACE:
                raise H2Error(PROTOCOL_ERROR, "not an HTTP/2 connection preface")
            self._write(frame(SETTINGS, 0, 0, struct.pack(">HIHIHI", S_ENABLE_PUSH, 0, S_INITIAL_WINDOW, RECV_WINDOW,
                                                           S_MAX_FRAME, MAX_FRAME))
                        + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", RECV_WINDOW - 65535)))
            while True:
                head = f.read(9)
                if len(head) < 9:
                    break
                hi, lo, ftype, flags, sid = _hdr.unpack(head)
                n = (hi << 16) | lo
                sid &= 0x7FFFFFFF
                if n > MAX_FRAME:
                    raise H2Error(FRAME_SIZE_ERROR, "frame of %d bytes" % n)
                payload = f.read(n) if n else b""
                if len(payload) < n:
                    break
                self._frame(ftype, flags, sid, payload)
        except H2Error as e:
            self.close(e.code, str(e))
        except _hpack.HPACKError as e:
            self.close(COMPRESSION_ERROR, str(e))
        except OSError:
            pass
        finally:
            self._closed()
            f.close()

    def _frame(self, ftype, flags, sid, payload):
        st = None
        if self._continuing is not None and ftype != CONTINUATION:
            raise H2Error(PROTOCOL_ERROR, "a header block interrupted")
        if ftype == DATA:
            self._data(flags, sid, payload)
        elif ftype == HEADERS:
            self._headers(flags, sid, payload)
        elif ftype == CONTINUATION:
            st = self._continuing
            if st is None or st.id != sid:
                raise H2Error(PROTOCOL_ERROR, "CONTINUATION out of place")
            st.block += payload
            if flags & END_HEADERS:
                self._continuing = None
                self._end_headers(st)
        elif ftype == SETTINGS:
            if flags & ACK:
                return
            self._settings(payload)
            self._write(frame(SETTINGS, ACK, 0))
        elif ftype == PING:
            if not flags & ACK:
                self._write(frame(PING, ACK, 0, payload))
        elif ftype == WINDOW_UPDATE:
            if len(payload) != 4:
                raise H2Error(FRAME_SIZE_ERROR, "WINDOW_UPDATE of %d bytes" % len(payload))
            inc = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
            with self.cv:
                if sid == 0:
                    self.conn_send_window += inc
                    if self.conn_send_window > MAX_WINDOW:
                        raise H2Error(FLOW_CONTROL_ERROR, "connection window beyond 2^31-1")
                else:
                    st = self.streams.get(sid)
                    if st is not None:
                        st.send_window += inc
                self.cv.notify_all()
        elif ftype == RST_STREAM:
            with self.cv:
                st = self.streams.pop(sid, None)
                self.cv.notify_all()
            if st is not None and st.request is not None:
                st.request.done = True
                st.request.stop_deadline()
                st.request.cancel()
        elif ftype == GOAWAY:
            self.goaway = True
        # PRIORITY, PUSH_PROMISE (never sent by a client) and unknown types: ignored.

    _continuing = None

    def _settings(self, payload):
        if len(payload) % 6:
            raise H2Error(FRAME_SIZE_ERROR, "SETTINGS of %d bytes" % len(payload))
        with self.cv:
            for i in range(0, len(payload), 6):
                key, value = struct.unpack_from(">HI", payload, i)
                if key == S_INITIAL_WINDOW:
                    if value > MAX_WINDOW:
                        raise H2Error(FLOW_CONTROL_ERROR, "initial window beyond 2^31-1")
                    delta = value - self.peer_initial_window
                    self.peer_initial_window = value
                    for st in self.streams.values():
                        st.send_window += delta
                elif key == S_MAX_FRAME:
                    if not 16384 <= value <= 16777215:
                        raise H2Error(PROTOCOL_ERROR, "max frame size %d" % value)
                    self.peer_max_frame = value
            self.cv.notify_all()

    def _headers(self, flags, sid, payload):
        if sid == 0 or sid % 2 == 0:
            raise H2Error(PROTOCOL_ERROR, "HEADERS on stream %d" % sid)
        payload = _unpad(flags, payload)
        if flags & PRIORITY_FLAG:
            payload = payload[5:]
        with self.cv:
            st = self.streams.get(sid)
        if st is None:
            if sid <= self.last_stream:
                # Trailers on a stream already answered (or a reused id):
                # the block must still be decoded, for the table.
                st = _Stream(sid, 0)
            else:
                self.last_stream = sid
                st = _Stream(sid, self.peer_initial_window)
                with self.cv:
                    self.streams[sid] = st
        elif st.request is not None:
            # Trailers from the client (it sends none on a unary call).
            st = _Stream(sid, 0)
        st.block += payload
        st.end_after_headers = bool(flags & END_STREAM)
        if flags & END_HEADERS:
            self._end_headers(st)
        else:
            self._continuing = st

    def _end_headers(self, st):
        fields = self.decoder.decode(bytes(st.block))
        st.block = bytearray()
        with self.cv:
            live = self.streams.get(st.id) is st
        if not live:
            return
        headers = {}
        for name, value in fields:
            headers[name] = value if name not in headers else headers[name] + "," + value
        req = Request(self, st.id, headers)
        st.request = req
        st.unary = self.is_unary(req.method)
        req.start_deadline()
        if not st.unary:
            st.closed_remote = st.end_after_headers
            req.reply(status=UNIMPLEMENTED, message="unknown method %s" % req.method)
            return
        if st.end_after_headers:
            self._end_stream(st)

    def _data(self, flags, sid, payload):
        if sid == 0:
            raise H2Error(PROTOCOL_ERROR, "DATA on stream 0")
        n = len(payload)
        data = _unpad(flags, payload)
        with self.cv:
            st = self.streams.get(sid)
            self.recv_unacked += n
            give_back = self.recv_unacked if self.recv_unacked >= GIVE_BACK else 0
            if give_back:
                self.recv_unacked = 0
        if give_back:
            # Give the connection's window back. A stream's own window
            # (1 GiB) is more than a unary request ever takes.
            self._write(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", give_back)))
        if st is None or st.request is None or not st.unary:
            return
        st.data += data
        if flags & END_STREAM:
            self._end_stream(st)

    def _end_stream(self, st):
        st.closed_remote = True
        req = st.request
        data = bytes(st.data)
        st.data = bytearray()
        if len(data) < 5:
            req.reply(status=INTERNAL, message="a gRPC request without a message")
            return
        compressed, size = struct.unpack_from(">BI", data)
        if compressed:
            req.reply(status=UNIMPLEMENTED, message="compressed messages are not served")
            return
        if len(data) != 5 + size:
            req.reply(status=INTERNAL, message="a gRPC request of %d bytes, %d announced" % (len(data) - 5, size))
            return
        req.body = data[5:]
        self.dispatch(req)


def _unpad(flags, payload):
    if flags & PADDED:
        if not payload:
            raise H2Error(PROTOCOL_ERROR, "padded frame without a pad length")
        pad = payload[0]
        if pad >= len(payload):
            raise H2Error(PROTOCOL_ERROR, "padding longer than the frame")
        return payload[1:len(payload) - pad]
    return payload
