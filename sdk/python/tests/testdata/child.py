#!/usr/bin/env python3
"""A Python child program that joins the task that started it
(taskhost.run_child). With FAKE_EMIT set, its events go, as JSON lines,
to that file instead of the hub (for the tests of the core alone)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

if os.environ.get("FAKE_EMIT"):
    import types

    class _Fake:
        def __init__(self, src):
            self.src, self.seq, self.f = src, 0, open(os.environ["FAKE_EMIT"], "a")
            self.on_refused = None

        def emit(self, ev):
            self.seq += 1
            ev = dict(ev, seq=self.seq, src=self.src, pid=ev.get("pid") or os.getpid())
            ev.pop("data", None)
            self.f.write(json.dumps(ev) + "\n")

        def flush(self, timeout=None):
            self.f.flush()
            return self.seq, None

        def close(self):
            self.f.close()

    class HubError(Exception):
        pass

    fake = types.ModuleType("taskhost._emit")
    fake.HubError = HubError
    fake.Hub = types.SimpleNamespace(dial=lambda hub, name, src="": _Fake(src))
    sys.modules["taskhost._emit"] = fake

import taskhost


def main(t):
    with t.step("child step") as s:
        t.log.info("hello from the child")
        with s.step("inner", continue_=True) as i:
            i.failed("inner failed")


taskhost.run_child(main)
