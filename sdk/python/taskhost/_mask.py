"""Hiding sensitive values in what a task reports and logs, as the Go SDK
(internal/mask) does: each value of at least MIN_LEN bytes, as it is and
as JSON or Go's %q would escape it, becomes TEXT."""

import re

TEXT = "(sensitive)"
MIN_LEN = 4


def _json_form(v, html):
    out = []
    for c in v:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif o < 0x20 or o in (0x2028, 0x2029) or (html and c in "<>&"):
            out.append("\\u%04x" % o)
        else:
            out.append(c)
    return "".join(out)


_GO_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
           "\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def _go_quote_form(v):
    out = []
    for c in v:
        if c in _GO_ESC:
            out.append(_GO_ESC[c])
        elif c == " " or c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append("\\x%02x" % ord(c))
        elif ord(c) < 0x10000:
            out.append("\\u%04x" % ord(c))
        else:
            out.append("\\U%08x" % ord(c))
    return "".join(out)


def forms(v):
    """v as it is, as JSON writes it inside its quotes (with and without
    the escaping of <, > and &) and as Go's %q does."""
    return [v, _json_form(v, True), _json_form(v, False), _go_quote_form(v)]


class Masker:
    """Replaces a set of values with TEXT. An empty Masker changes nothing."""

    def __init__(self, values=()):
        self.values = []
        for v in values:
            if len(v.encode("utf-8", "surrogateescape")) >= MIN_LEN and v not in self.values:
                self.values.append(v)
        pats = []
        for v in self.values:
            for p in forms(v):
                if p not in pats:
                    pats.append(p)
        # Longest first, so that where two start at one place the longer
        # one is replaced (the leftmost match wins in re's alternation).
        pats.sort(key=len, reverse=True)
        self._re = re.compile("|".join(re.escape(p) for p in pats)) if pats else None

    @property
    def empty(self):
        return self._re is None

    def string(self, s):
        """s with every value replaced."""
        if self._re is None or not s:
            return s
        return self._re.sub(TEXT, s)

    def obj(self, v):
        """A JSON-able value with every value replaced in its strings (keys
        too) and numbers (a number that held one becomes a string)."""
        if self._re is None:
            return v
        if isinstance(v, str):
            return self.string(v)
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, (int, float)):
            s = str(v)
            m = self.string(s)
            return v if m == s else m
        if isinstance(v, dict):
            return {self.string(str(k)): self.obj(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [self.obj(x) for x in v]
        return v

    def json(self, raw):
        """raw, JSON bytes, with every value replaced and still valid JSON;
        what is not JSON is masked as text."""
        if self._re is None or not raw:
            return raw
        import json
        try:
            v = json.loads(raw)
        except ValueError:
            return self.string(raw.decode("utf-8", "replace")).encode()
        m = self.obj(v)
        if m == v:
            return raw
        return json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode()
