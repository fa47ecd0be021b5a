"""taskhost: write taskhost task packs in Python.

    from taskhost import Pack, T

    pack = Pack("net", "0.1.0")

    @pack.task("ping", doc="Pings a host.")
    def ping(t: T, host: str, count: int = 3):
        with t.step("resolve " + host):
            ...
        with t.step("ping", continue_=True) as step:
            step.failed("2 of 3 packets lost")

    if __name__ == "__main__":
        pack.run()

See docs/python.md. Names are loaded when first used, so that a task
process imports only what it runs.
"""

import os as _os
import sys as _sys

# A pack started by a host must not write to fd 1 until the handshake is
# written there: Python's stdout goes to stderr (the host keeps it in the
# task's log).
if _os.environ.get("TASKHOST_PACK_PLUGIN") == "3f0c9a1e6b7d4c2a":
    _sys.stdout = _sys.stderr

__version__ = "0.1.0"

_LAZY = {
    "Pack": "_pack", "Output": "_pack", "Hook": "_pack",
    "T": "_t",
    "Result": "_results", "Passed": "_results", "Failed": "_results", "Errored": "_results",
    "Skipped": "_results", "Blocked": "_results", "Aborted": "_results", "Passx": "_results",
    "run_child": "_child",
    "State": "_state", "StateError": "_state", "NotFound": "_state", "Exists": "_state",
    "Conflict": "_state", "BadKey": "_state", "TooLarge": "_state", "NotCounter": "_state",
    "NotHolder": "_state", "NoState": "_state", "StateFull": "_state", "BarrierError": "_state", "Lock": "_state",
    "Change": "_state",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError("module 'taskhost' has no attribute %r" % name)
    v = getattr(__import__(__name__ + "." + mod, fromlist=(name,)), name)
    globals()[name] = v
    return v


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
