"""Drives the core's Run glue (_serve.run) in a process of its own, as the
transport would call it, with a stand-in for the transport module
(_plugin): argv[1] is a JSON request, argv[2] where to write the answer."""

import json
import os
import sys
import threading
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class RPCError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


plugin = types.ModuleType("taskhost._plugin")
plugin.RPCError = RPCError
sys.modules["taskhost._plugin"] = plugin


class Call:
    version = 2

    def __init__(self):
        self.cancelled = threading.Event()
        self.fns = []

    def on_cancel(self, fn):
        self.fns.append(fn)

    def cancel(self):
        self.cancelled.set()
        for fn in self.fns:
            fn()


import demo  # noqa: E402 (the pack)
from taskhost import _serve, _wire  # noqa: E402

spec = json.loads(sys.argv[1])
hook = spec.pop("hook", None)
req = _wire.RunRequest(**{k: (v.encode() if k == "args_json" else v) for k, v in spec.items()})
if hook:
    req.hook = _wire.HookCall(**hook)
if os.environ.get("TERM_IN"):
    # The user's terminal, as the host hands it: fds 3 and 4.
    os.dup2(os.open(os.environ["TERM_IN"], os.O_RDONLY), 3)
    os.dup2(os.open(os.environ["TERM_OUT"], os.O_WRONLY | os.O_CREAT, 0o600), 4)
_serve.null_stdin()
call = Call()
if os.environ.get("CANCEL_AFTER"):
    threading.Timer(float(os.environ["CANCEL_AFTER"]), call.cancel).start()
out = {}
try:
    resp = _serve.run(demo.pack, req, call)
    out = {"result": resp.result, "reason": resp.reason, "last_seq": resp.last_seq,
           "outputs": {k: v.decode() for k, v in resp.outputs.items()}}
except RPCError as e:
    out = {"error": [e.code, e.message]}
out["cookie"] = os.environ.get("TASKHOST_PACK_PLUGIN", "")
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
