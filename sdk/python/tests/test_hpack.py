"""HPACK decoding against RFC 7541's examples (appendix C)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from taskhost import _hpack  # noqa: E402


def dehex(s):
    return bytes.fromhex("".join(s.split()))


REQ1 = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")]
REQ2 = REQ1 + [("cache-control", "no-cache")]
REQ3 = [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"),
        (":authority", "www.example.com"), ("custom-key", "custom-value")]
REQ_TABLES = [
    ([(":authority", "www.example.com")], 57),
    ([("cache-control", "no-cache"), (":authority", "www.example.com")], 110),
    ([("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")], 164),
]

RESP1 = [(":status", "302"), ("cache-control", "private"),
         ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")]
RESP2 = [(":status", "307")] + RESP1[1:]
COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
RESP3 = [(":status", "200"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
         ("location", "https://www.example.com"), ("content-encoding", "gzip"), ("set-cookie", COOKIE)]
RESP_TABLES = [
    (list(reversed(RESP1)), 222),
    ([(":status", "307"), ("location", "https://www.example.com"),
      ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("cache-control", "private")], 222),
    ([("set-cookie", COOKIE), ("content-encoding", "gzip"), ("date", "Mon, 21 Oct 2013 20:13:22 GMT")], 215),
]


class AppendixC(unittest.TestCase):
    def series(self, table_size, blocks, wants, tables):
        d = _hpack.Decoder(table_size)
        for i, (block, want, (table, size)) in enumerate(zip(blocks, wants, tables)):
            with self.subTest(block=i):
                self.assertEqual(d.decode(dehex(block)), want)
                got = [(n.decode(), v.decode()) for n, v in d.dynamic]
                self.assertEqual(got, table)
                self.assertEqual(d.size, size)

    def test_c1_integers(self):
        # C.1.1-3: 10 and 1337 with a 5-bit prefix, 42 from a byte boundary.
        for value, prefix, enc in [(10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a")]:
            out = bytearray()
            _hpack._encode_int(out, value, prefix, 0)
            self.assertEqual(bytes(out), dehex(enc))
            self.assertEqual(_hpack._int(dehex(enc), 0, prefix), (value, len(enc) // 2))

    def test_c2_literals(self):
        self.assertEqual(_hpack.Decoder().decode(dehex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")),
                         [("custom-key", "custom-header")])
        d = _hpack.Decoder()
        self.assertEqual(d.decode(dehex("040c 2f73 616d 706c 652f 7061 7468")), [(":path", "/sample/path")])
        self.assertEqual(d.dynamic, [])
        self.assertEqual(d.decode(dehex("1008 7061 7373 776f 7264 0673 6563 7265 74")), [("password", "secret")])
        self.assertEqual(d.dynamic, [])
        self.assertEqual(d.decode(dehex("82")), [(":method", "GET")])

    def test_c3_requests(self):
        self.series(4096, [
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ], [REQ1, REQ2, REQ3], REQ_TABLES)

    def test_c4_requests_huffman(self):
        self.series(4096, [
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ], [REQ1, REQ2, REQ3], REQ_TABLES)

    def test_c5_responses_eviction(self):
        self.series(256, [
            """4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
               2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
               6c65 2e63 6f6d""",
            "4803 3330 37c1 c0bf",
            """88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
               54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
               5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
               3d31""",
        ], [RESP1, RESP2, RESP3], RESP_TABLES)

    def test_c6_responses_huffman_eviction(self):
        self.series(256, [
            """4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
               2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3""",
            "4883 640e ffc1 c0bf",
            """88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
               77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
               9587 3160 65c0 03ed 4ee5 b106 3d50 07""",
        ], [RESP1, RESP2, RESP3], RESP_TABLES)


class Errors(unittest.TestCase):
    def test_refused(self):
        for name, block in [
            ("an index beyond the tables", "be"),
            ("index 0", "80"),
            ("a table size above the limit", "3fe21f"),  # 4097 > 4096
            ("a truncated string", "0f2703"),
            ("Huffman padding of zeros", "0f2781" + "00"),
            ("Huffman padding of 8 bits", "0f2782" + "1fff"),  # 'a' then a whole byte of ones
        ]:
            with self.subTest(name):
                with self.assertRaises(_hpack.HPACKError):
                    _hpack.Decoder().decode(dehex(block))

    def test_table_size_update_evicts(self):
        d = _hpack.Decoder()
        d.decode(dehex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))
        self.assertEqual(len(d.dynamic), 1)
        d.decode(dehex("20"))  # size 0
        self.assertEqual((d.dynamic, d.size), ([], 0))


class Encode(unittest.TestCase):
    def test_round_trip(self):
        fields = [(":status", "200"), ("content-type", "application/grpc"),
                  ("grpc-message", "x" * 300), ("grpc-status", "0")]
        block = _hpack.encode(fields)
        self.assertEqual(block[0], 0x88)
        d = _hpack.Decoder()
        self.assertEqual(d.decode(block), fields)
        self.assertEqual(d.dynamic, [], "the answer's fields must not enter the peer's table")

    def test_huffman_every_byte(self):
        # Each byte's code, twice, and then EOS padding: decodes back.
        from taskhost._huffman import CODES
        for b, (code, bits) in enumerate(CODES):
            v = (code << bits) | code
            n = 2 * bits
            pad = (8 - n % 8) % 8
            v = (v << pad) | ((1 << pad) - 1)
            data = v.to_bytes((n + pad) // 8, "big")
            self.assertEqual(_hpack.huffman_decode(data), bytes([b, b]), b)


if __name__ == "__main__":
    unittest.main()
