"""Mem: an emitter that keeps a task's events in memory, as a result tree
(a task run by hand), and may write each as a JSON line (run --events)."""

import os
import threading
import time


def _rfc3339(ns):
    s, frac = divmod(ns, 1_000_000_000)
    t = time.gmtime(s)
    f = ("%09d" % frac).rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ("." + f if f else "") + "Z"


class Node:
    """A section or step of the tree."""

    __slots__ = ("type", "id", "name", "result", "reason", "data", "start", "stop", "pid", "logs", "sections")

    def __init__(self, ev):
        self.type = ev.get("type") or "step"
        self.id = ev.get("id", "")
        self.name = ev.get("name", "")
        self.result = ""
        self.reason = ""
        self.data = b""
        self.start = ev["time_unix_nano"]
        self.stop = 0
        self.pid = ev.get("pid", 0)
        self.logs = None
        self.sections = []

    def to_json(self):
        """The node as the Go SDK's `run --json` prints it (a json.dumps-able dict)."""
        import json
        out = {"type": self.type, "id": self.id, "name": self.name}
        res = {"value": self.result}
        if self.reason:
            res["reason"] = self.reason
        if self.data:
            res["data"] = json.loads(self.data)
        out["result"] = res
        out["starttime"] = _rfc3339(self.start)
        if self.stop:
            out["stoptime"] = _rfc3339(self.stop)
        out["runtime"] = (self.stop - self.start) / 1e9 if self.stop else 0
        if self.pid:
            out["pid"] = self.pid
        if self.logs:
            out["logs"] = self.logs
        if self.sections:
            out["sections"] = [n.to_json() for n in self.sections]
        return out


class Mem:
    """Keeps events in a tree (sections, own). sink, if set, is a text
    file that gets each event as a JSON line."""

    def __init__(self, sink=None, src=""):
        self.sink = sink
        self.src = src
        self.seq = 0
        self.pid = os.getpid()
        self.events = []
        self.sections = []
        self.nodes = {}
        self.own = None  # (result, reason) of the end event without an id
        self.logs = []
        self.on_refused = None
        self._mu = threading.Lock()

    def emit(self, ev):
        with self._mu:
            self.seq += 1
            ev = dict(ev)
            ev["seq"] = self.seq
            if self.src:
                ev["src"] = self.src
            ev.setdefault("time_unix_nano", time.time_ns())
            ev.setdefault("pid", self.pid)
            self.events.append(ev)
            if self.sink is not None:
                self.sink.write(line(ev) + "\n")
            self._add(ev)

    def _add(self, ev):
        kind = ev.get("kind")
        if kind == "start":
            n = Node(ev)
            if n.id in self.nodes:
                raise AssertionError("taskhost sdk: step %s started twice" % n.id)
            self.nodes[n.id] = n
            parent = ev.get("parent", "")
            if parent:
                self.nodes[parent].sections.append(n)
            else:
                self.sections.append(n)
        elif kind == "end":
            if not ev.get("id"):
                self.own = (ev.get("result", ""), ev.get("reason", ""))
                return
            n = self.nodes[ev["id"]]
            n.result = ev.get("result", "")
            n.reason = ev.get("reason", "")
            n.data = ev.get("data", b"")
            n.logs = ev.get("logs")
            n.stop = ev["time_unix_nano"]
        elif kind == "log":
            self.logs.append(ev.get("name", ""))

    def flush(self, timeout=None):
        with self._mu:
            if self.sink is not None:
                try:
                    self.sink.flush()
                except (OSError, ValueError):
                    pass
            return self.seq, None

    def close(self):
        pass


_ORDER = ("src", "seq", "kind", "id", "parent", "name", "type", "result", "reason", "data")


def line(ev):
    """ev as the Go SDK writes an event as JSON (report.Event)."""
    import json
    parts = []
    for k in _ORDER:
        v = ev.get(k)
        if k == "seq":
            parts.append('"seq":%d' % (v or 0))
        elif k == "kind":
            parts.append('"kind":' + json.dumps(v or ""))
        elif v:
            parts.append('"%s":%s' % (k, v.decode() if k == "data" else json.dumps(v, ensure_ascii=False)))
    parts.append('"time":"%s"' % _rfc3339(ev.get("time_unix_nano", 0)))
    if ev.get("pid"):
        parts.append('"pid":%d' % ev["pid"])
    if ev.get("logs"):
        lg = ev["logs"]
        parts.append('"logs":{"file":%s,"begin":%d,"size":%d}' % (json.dumps(lg["file"]), lg["begin"], lg["size"]))
    return "{" + ",".join(parts) + "}"


def write_text(out, task, result, reason, sections):
    """The result tree as the Go SDK prints it (report.WriteText)."""
    def one(depth, name, r, why):
        s = "  " * depth + name
        dots = max(60 - len(s.encode()), 2)
        text = "%s %s %s" % (s, "." * dots, str(r).upper())
        if why:
            text += "  (%s)" % why
        out.write(text + "\n")

    def walk(d, ns):
        for n in ns:
            one(d, n.id + " " + n.name, n.result, n.reason)
            walk(d + 1, n.sections)

    one(0, task, result, reason)
    walk(1, sections)
