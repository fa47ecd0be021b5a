"""The HTTP/2 server's frames, against a client written here by hand on a
socket pair."""

import os
import socket
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from taskhost import _h2, _hpack  # noqa: E402
from taskhost._h2 import frame  # noqa: E402


def grpc(body):
    return struct.pack(">BI", 0, len(body)) + body


class Client:
    """The test's side of the connection: sends frames, reads them."""

    def __init__(self, settings=b""):
        self.sock, theirs = socket.socketpair()
        self.sock.settimeout(10)
        self.requests = []
        self.got = threading.Event()
        self.conn = _h2.Conn(theirs, self._dispatch, lambda m: m.startswith("/svc/"))
        self.thread = threading.Thread(target=self.conn.serve, daemon=True)
        self.thread.start()
        self.f = self.sock.makefile("rb")
        self.decoder = _hpack.Decoder()
        self.sock.sendall(_h2.PREFACE + frame(_h2.SETTINGS, 0, 0, settings))

    def _dispatch(self, req):
        self.requests.append(req)
        self.got.set()

    def request(self):
        self.assert_(self.got.wait(10), "no request dispatched")
        self.got.clear()
        return self.requests[-1]

    @staticmethod
    def assert_(ok, msg):
        if not ok:
            raise AssertionError(msg)

    def send(self, *frames):
        self.sock.sendall(b"".join(frames))

    def headers(self, sid, path, extra=(), end_stream=False):
        block = _hpack.encode([(":method", "POST"), (":scheme", "http"), (":path", path),
                               ("content-type", "application/grpc"), ("te", "trailers")] + list(extra))
        return frame(_h2.HEADERS, _h2.END_HEADERS | (_h2.END_STREAM if end_stream else 0), sid, block)

    def read(self):
        head = self.f.read(9)
        if len(head) < 9:
            return None
        hi, lo, ftype, flags, sid = struct.unpack(">BHBBI", head)
        payload = self.f.read((hi << 16) | lo)
        return ftype, flags, sid, payload

    def read_until(self, ftype, sid=None):
        """Frames up to the first of ftype (on sid), that one last; header
        blocks decoded."""
        out = []
        while True:
            fr = self.read()
            if fr is None:
                raise AssertionError("connection closed; frames: %r" % out)
            t, flags, s, payload = fr
            if t == _h2.HEADERS:
                payload = self.decoder.decode(payload)
            out.append((t, flags, s, payload))
            if t == ftype and (sid is None or s == sid):
                return out

    def close(self):
        self.f.close()
        self.sock.close()
        self.thread.join(10)


class Frames(unittest.TestCase):
    def setUp(self):
        self.c = Client()
        self.addCleanup(self.c.close)
        # The server's preface: its SETTINGS (large window, no push), a
        # window update of the connection; then its ACK of ours.
        first = self.c.read()
        self.assertEqual(first[0], _h2.SETTINGS)
        self.assertEqual(first[1], 0)
        settings = dict(struct.unpack(">HI", first[3][i:i + 6]) for i in range(0, len(first[3]), 6))
        self.assertEqual(settings[_h2.S_INITIAL_WINDOW], _h2.RECV_WINDOW)
        self.assertEqual(settings[_h2.S_ENABLE_PUSH], 0)
        wu = self.c.read()
        self.assertEqual((wu[0], struct.unpack(">I", wu[3])[0]), (_h2.WINDOW_UPDATE, _h2.RECV_WINDOW - 65535))
        self.assertEqual(self.c.read()[:2], (_h2.SETTINGS, _h2.ACK))

    def test_ping_ack(self):
        self.c.send(frame(_h2.PING, 0, 0, b"12345678"))
        self.assertEqual(self.c.read(), (_h2.PING, _h2.ACK, 0, b"12345678"))

    def test_unary_call(self):
        self.c.send(self.c.headers(1, "/svc/Echo", [("grpc-timeout", "5S")]),
                    frame(_h2.DATA, 0, 1, grpc(b"he")[:4]), frame(_h2.DATA, _h2.END_STREAM, 1, grpc(b"he")[4:]))
        req = self.c.request()
        self.assertEqual((req.method, req.body, req.timeout), ("/svc/Echo", b"he", 5.0))
        req.reply(b"answer")
        frames = self.c.read_until(_h2.HEADERS, 1)
        self.assertEqual(frames[-1][3], [(":status", "200"), ("content-type", "application/grpc")])
        frames = self.c.read_until(_h2.HEADERS, 1)
        data = b"".join(p for t, _, _, p in frames if t == _h2.DATA)
        self.assertEqual(data, grpc(b"answer"))
        self.assertEqual(frames[-1][1] & _h2.END_STREAM, _h2.END_STREAM)
        self.assertEqual(frames[-1][3], [("grpc-status", "0")])

    def test_continuation_and_padding(self):
        block = _hpack.encode([(":method", "POST"), (":path", "/svc/Split"), ("x-long", "v" * 100)])
        padded = bytes([3]) + block[:10] + b"\0\0\0"
        self.c.send(frame(_h2.HEADERS, _h2.PADDED, 3, padded),
                    frame(_h2.CONTINUATION, 0, 3, block[10:50]),
                    frame(_h2.CONTINUATION, _h2.END_HEADERS, 3, block[50:]),
                    frame(_h2.DATA, _h2.END_STREAM | _h2.PADDED, 3, bytes([2]) + grpc(b"x") + b"\0\0"))
        req = self.c.request()
        self.assertEqual((req.method, req.headers["x-long"], req.body), ("/svc/Split", "v" * 100, b"x"))

    def test_error_status_percent_encoded(self):
        self.c.send(self.c.headers(1, "/svc/Refuse", end_stream=False), frame(_h2.DATA, _h2.END_STREAM, 1, grpc(b"")))
        self.c.request().reply(status=5, message="no 100% ü\n")
        frames = self.c.read_until(_h2.HEADERS, 1)
        flags, fields = frames[-1][1], frames[-1][3]
        self.assertTrue(flags & _h2.END_STREAM, "an error is a trailers-only answer")
        self.assertEqual(fields, [(":status", "200"), ("content-type", "application/grpc"),
                                  ("grpc-status", "5"), ("grpc-message", "no 100%25 %C3%BC%0A")])

    def test_unknown_method_unimplemented_at_once(self):
        # A stream the client never finishes (as go-plugin's broker) is
        # answered when its headers arrive, and does not hold a call after it.
        self.c.send(self.c.headers(1, "/plugin.GRPCBroker/StartStream"))
        frames = self.c.read_until(_h2.HEADERS, 1)
        self.assertIn(("grpc-status", "12"), frames[-1][3])
        self.assertEqual(self.c.read()[:3], (_h2.RST_STREAM, 0, 1))
        self.c.send(frame(_h2.DATA, 0, 1, grpc(b"late")), self.c.headers(3, "/svc/Next", end_stream=False),
                    frame(_h2.DATA, _h2.END_STREAM, 3, grpc(b"next")))
        self.assertEqual(self.c.request().body, b"next")
        self.assertEqual(len(self.c.requests), 1)

    def test_rst_stream_cancels(self):
        self.c.send(self.c.headers(1, "/svc/Wait"), frame(_h2.DATA, _h2.END_STREAM, 1, grpc(b"")))
        req = self.c.request()
        called = threading.Event()
        req.on_cancel(called.set)
        self.c.send(frame(_h2.RST_STREAM, 0, 1, struct.pack(">I", _h2.CANCEL)))
        self.assertTrue(req.cancelled.wait(10))
        self.assertTrue(called.is_set())
        late = []
        req.on_cancel(lambda: late.append(1))
        self.assertEqual(late, [1], "a callback registered after the cancellation runs at once")
        req.reply(b"too late")  # dropped: the next frame is the PING's answer
        self.c.send(frame(_h2.PING, 0, 0, b"abcdefgh"))
        self.assertEqual(self.c.read()[0], _h2.PING)

    def test_deadline_cancels(self):
        self.c.send(self.c.headers(1, "/svc/Wait", [("grpc-timeout", "50m")]), frame(_h2.DATA, _h2.END_STREAM, 1, grpc(b"")))
        req = self.c.request()
        self.assertEqual(req.timeout, 0.05)
        self.assertTrue(req.cancelled.wait(10))

    def test_goaway_on_bad_frames(self):
        self.c.send(frame(_h2.DATA, 0, 0, b"x"))
        frames = self.c.read_until(_h2.GOAWAY)
        self.assertEqual(struct.unpack(">I", frames[-1][3][4:8])[0], _h2.PROTOCOL_ERROR)
        self.assertIsNone(self.c.read(), "the connection is closed after GOAWAY")

    def test_connection_end_cancels(self):
        self.c.send(self.c.headers(1, "/svc/Wait"), frame(_h2.DATA, _h2.END_STREAM, 1, grpc(b"")))
        req = self.c.request()
        self.c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(req.cancelled.wait(10))


class FlowControl(unittest.TestCase):
    def test_peer_window_and_frame_size(self):
        # The peer's stream window is 10 bytes: the answer waits for its
        # WINDOW_UPDATE, and comes in pieces no larger than the window.
        c = Client(settings=struct.pack(">HI", _h2.S_INITIAL_WINDOW, 10))
        self.addCleanup(c.close)
        c.send(c.headers(1, "/svc/Big"), frame(_h2.DATA, _h2.END_STREAM, 1, grpc(b"")))
        req = c.request()
        body = bytes(range(256)) * 100  # 25,600 bytes, more than a frame of 16,384
        threading.Thread(target=req.reply, args=(body,), daemon=True).start()
        got = b""
        sizes = []
        while len(got) < 10:
            t, flags, s, payload = c.read()
            if t == _h2.DATA:
                got += payload
                sizes.append(len(payload))
        self.assertEqual(len(got), 10)
        c.send(frame(_h2.WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 20)))
        while True:
            t, flags, s, payload = c.read()
            if t == _h2.DATA:
                got += payload
                sizes.append(len(payload))
            if t == _h2.HEADERS and flags & _h2.END_STREAM:
                break
        self.assertEqual(got, grpc(body))
        self.assertLessEqual(max(sizes), 16384)

    def test_connection_window_given_back(self):
        c = Client()
        self.addCleanup(c.close)
        c.read_until(_h2.SETTINGS)  # the server's
        c.read_until(_h2.SETTINGS)  # its ACK
        chunk = b"\0" * 16384
        n = _h2.GIVE_BACK // len(chunk)
        c.send(c.headers(1, "/other"))  # not served: its data is dropped, but counted
        for _ in range(n):
            c.send(frame(_h2.DATA, 0, 1, chunk))
        frames = c.read_until(_h2.WINDOW_UPDATE, 0)
        self.assertEqual(struct.unpack(">I", frames[-1][3])[0], n * len(chunk))


class Helpers(unittest.TestCase):
    def test_timeouts(self):
        for value, want in [("1H", 3600.0), ("2M", 120.0), ("3S", 3.0), ("250m", 0.25), ("7u", 7e-6), ("9n", 9e-9),
                            ("", None), ("S", None), ("5x", None), ("123456789S", None)]:
            self.assertEqual(_h2.parse_timeout(value), want, value)

    def test_percent_encode(self):
        self.assertEqual(_h2.percent_encode("a b~%\x7f\té"), "a b~%25%7F%09%C3%A9")


if __name__ == "__main__":
    unittest.main()
