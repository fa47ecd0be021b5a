"""Unit tests of the hub side's pieces that need no hub: the emitter's
event encoding, the NATS client's parsing of URLs and errors, the state
protocol's frames. The behaviour against the real hub is tested by the Go
tests of sdk/python (hub_test.go)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from taskhost import _emit, _nats, _state, _wire  # noqa: E402


class EncodeEvent(unittest.TestCase):
    def test_every_field_decodes_as_sent(self):
        ev = {"kind": "end", "id": "1/7.1", "parent": "1", "name": "n", "type": "step", "result": "failed",
              "reason": "down", "data": b'{"a":1}', "logs": {"file": "tasks/a/pid-7.log", "begin": 10, "size": 20}}
        got = _wire.Event.decode(bytes(_emit.encode_event(ev, 3, "pid-7", 1_700_000_000_000_000_001, 7)))
        want = _wire.Event(src="pid-7", seq=3, kind="end", id="1/7.1", parent="1", name="n", type="step",
                           result="failed", reason="down", data=b'{"a":1}', time_unix_nano=1_700_000_000_000_000_001,
                           pid=7, logs=_wire.LogRef(file="tasks/a/pid-7.log", begin=10, size=20))
        self.assertEqual(got, want)

    def test_long_name_is_cut_saying_so(self):
        got = _wire.Event.decode(bytes(_emit.encode_event({"name": "é" * 5000}, 1, "", 1, 1)))
        self.assertLessEqual(len(got.name.encode()), _emit.MAX_NAME_BYTES)
        self.assertRegex(got.name, r" … \(\d+ bytes cut\)$")


class GoDuration(unittest.TestCase):
    def test_as_go_prints(self):
        self.assertEqual(_emit._go_duration(60), "1m0s")
        self.assertEqual(_emit._go_duration(0.3), "300ms")
        self.assertEqual(_emit._go_duration(5), "5s")


class Refusal(unittest.TestCase):
    def test_final_answers(self):
        self.assertIn("stream is full", _emit._refusal(_emit.APIError(503, 10077, "maximum bytes exceeded")))
        self.assertIsNone(_emit._refusal(_emit.APIError(503, 10077, "insufficient resources")))
        self.assertIn("larger than the hub takes", _emit._refusal(_nats.MaxPayload("nats: maximum payload exceeded")))
        self.assertIn("credentials were revoked", _emit._refusal(_nats.Closed("nats: connection closed")))
        self.assertIsNone(_emit._refusal(_nats.NotConnected("x")))


class NatsParsing(unittest.TestCase):
    def test_urls(self):
        self.assertEqual(_nats._split_url("nats://127.0.0.1:4222"), ("nats", "127.0.0.1", 4222))
        self.assertEqual(_nats._split_url("tls://localhost:1234"), ("tls", "localhost", 1234))
        self.assertEqual(_nats._split_url("nats://[::1]:5"), ("nats", "::1", 5))

    def test_errors_worded_as_nats_go(self):
        self.assertEqual(_nats._err_text(b"-ERR 'Authorization Violation'"), "nats: authorization violation")

    def test_bad_ca(self):
        with self.assertRaises(_nats.BadCA):
            _nats.tls_context("not a certificate")


class StateFrames(unittest.TestCase):
    def test_request_layout(self):
        b = _state._request(ord("a"), id=300, key="k", delta=-1, dur=2)
        self.assertEqual(bytes(b), b"\x00\x00\x00\x0b" + b"a" + b"\xac\x02" + b"\x01k" + b"\x00" + b"\x00" + b"\x01" +
                         b"\x00" + b"\x04" + b"\x00")

    def test_response(self):
        p = _state._Response(b"o\x05\x03\x01k\x02{}\x00")
        self.assertEqual((p.status, p.rev, p.n, p.key, p.value, p.msg), ("o", 5, -2, "k", b"{}", ""))

    def test_keys_checked(self):
        for bad in ("a b", "", "a..b", "_own"):
            with self.assertRaises(_state.BadKey):
                _state._check_key(bad)
        _state._check_key("a.b-c/d=e_f")

    def test_no_state(self):
        with self.assertRaises(_state.NoState):
            _state.State("", "", "x").add("k")


if __name__ == "__main__":
    unittest.main()
