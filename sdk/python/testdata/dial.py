"""Dials the hub: with "emit", reports 3 events and flushes; prints "ok",
or the error the dial or flush gave."""
import sys

import hubenv
from taskhost import _emit

try:
    em = _emit.Hub.dial(hubenv.hub(), "dial", "")
except _emit.HubError as e:
    print("HubError:", e)
    sys.exit(0)
for i in range(3):
    em.emit({"kind": "start", "id": "1", "name": "a step", "type": "step"})
last, err = em.flush(30)
print("ok" if err is None and last == 3 else "flush: %s %s" % (last, err))
