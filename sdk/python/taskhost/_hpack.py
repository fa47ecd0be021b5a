"""HPACK (RFC 7541): the header decoder of the pack's HTTP/2 server, and the
small encoder of its answers.

The decoder keeps the dynamic table the host's encoder fills, and decodes
Huffman-coded strings with the code of _huffman.py (generated from the one
Go's HTTP/2 encoder uses). The encoder writes every field as a literal
never put in the peer's table, without Huffman coding: an answer is a
handful of short fields, and this keeps the peer's table untouched.
"""

__all__ = ["Decoder", "HPACKError", "encode"]


class HPACKError(Exception):
    """A header block that cannot be decoded: a compression error, fatal to
    the connection."""


STATIC = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
)

_huffman = None  # {(bits << 32) | code: byte}, made at the first use


def _huffman_table():
    global _huffman
    if _huffman is None:
        from ._huffman import CODES

        _huffman = {(n << 32) | c: b for b, (c, n) in enumerate(CODES)}
    return _huffman


def huffman_decode(data):
    """The bytes a Huffman-coded string holds (RFC 7541, 5.2)."""
    table = _huffman_table()
    out = bytearray()
    cur = 0
    n = 0
    for byte in data:
        for shift in range(7, -1, -1):
            cur = (cur << 1) | ((byte >> shift) & 1)
            n += 1
            if n < 5:
                continue
            sym = table.get((n << 32) | cur)
            if sym is not None:
                out.append(sym)
                cur = 0
                n = 0
            elif n >= 30:
                # The longest code is 30 bits: what is left is EOS or no code.
                raise HPACKError("invalid Huffman code")
    # What is left must be padding: fewer than 8 bits, all ones (EOS's first).
    if n > 7 or cur != (1 << n) - 1:
        raise HPACKError("invalid Huffman padding")
    return bytes(out)


def _int(data, i, prefix):
    """Reads an integer of an n-bit prefix at data[i] (RFC 7541, 5.1);
    returns it and the index after it."""
    if i >= len(data):
        raise HPACKError("truncated integer")
    mask = (1 << prefix) - 1
    v = data[i] & mask
    i += 1
    if v < mask:
        return v, i
    shift = 0
    while True:
        if i >= len(data):
            raise HPACKError("truncated integer")
        b = data[i]
        i += 1
        v += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
        if shift > 28:
            raise HPACKError("integer too large")


def _string(data, i):
    if i >= len(data):
        raise HPACKError("truncated string")
    huff = data[i] & 0x80
    n, i = _int(data, i, 7)
    j = i + n
    if j > len(data):
        raise HPACKError("truncated string")
    s = bytes(data[i:j])
    return (huffman_decode(s) if huff else s), j


class Decoder:
    """Decodes the header blocks of one connection, in order."""

    def __init__(self, max_table_size=4096):
        # The limit the peer may set its table to (SETTINGS_HEADER_TABLE_SIZE
        # as this side announces it).
        self.max_table_size = max_table_size
        self.table_size = max_table_size
        self.dynamic = []  # newest first
        self.size = 0

    def _evict(self):
        while self.size > self.table_size:
            name, value = self.dynamic.pop()
            self.size -= len(name) + len(value) + 32

    def _add(self, name, value):
        self.dynamic.insert(0, (name, value))
        self.size += len(name) + len(value) + 32
        self._evict()

    def _get(self, index):
        if index <= 0:
            raise HPACKError("header index 0")
        if index <= len(STATIC):
            return STATIC[index - 1]
        index -= len(STATIC) + 1
        if index >= len(self.dynamic):
            raise HPACKError("header index %d beyond the table" % (index + len(STATIC) + 1))
        return self.dynamic[index]

    def decode(self, data):
        """Returns the header block's fields, a list of (name, value) as
        str (latin-1: header bytes kept as they are)."""
        fields = []
        i = 0
        n = len(data)
        while i < n:
            b = data[i]
            if b & 0x80:  # indexed field
                index, i = _int(data, i, 7)
                name, value = self._get(index)
            elif b & 0xC0 == 0x40:  # literal, added to the table
                index, i = _int(data, i, 6)
                if index:
                    name = self._get(index)[0]
                else:
                    name, i = _string(data, i)
                value, i = _string(data, i)
                self._add(name, value)
            elif b & 0xE0 == 0x20:  # table size update
                size, i = _int(data, i, 5)
                if size > self.max_table_size:
                    raise HPACKError("table size %d above the limit %d" % (size, self.max_table_size))
                self.table_size = size
                self._evict()
                continue
            else:  # literal without indexing (0000) or never indexed (0001)
                index, i = _int(data, i, 4)
                if index:
                    name = self._get(index)[0]
                else:
                    name, i = _string(data, i)
                value, i = _string(data, i)
            fields.append((name.decode("latin-1"), value.decode("latin-1")))
        return fields


def _encode_int(out, v, prefix, first):
    mask = (1 << prefix) - 1
    if v < mask:
        out.append(first | v)
        return
    out.append(first | mask)
    v -= mask
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def encode(fields):
    """A header block of fields ((name, value) as str), each a literal
    never indexed; ":status: 200" as its static entry."""
    out = bytearray()
    for name, value in fields:
        if name == ":status" and value == "200":
            out.append(0x88)
            continue
        nb = name.encode("latin-1")
        vb = value.encode("latin-1")
        out.append(0x10)
        _encode_int(out, len(nb), 7, 0)
        out += nb
        _encode_int(out, len(vb), 7, 0)
        out += vb
    return bytes(out)
