"""Reports 3 events and flushes, then 50 more with step data of DATA
bytes and flushes again; prints both flushes and how often the task was
told of a refusal. With ACK_WAIT (seconds), the emitter gives up after
that long without an acknowledgement instead of a minute."""
import sys

import hubenv
from taskhost import _emit

if len(sys.argv) > 2:
    _emit.ACK_WAIT = float(sys.argv[2])
em = _emit.Hub.dial(hubenv.hub(), "refused", "")
told = []
em.on_refused = told.append
data = ('"%s"' % ("x" * int(sys.argv[1]))).encode()
if len(sys.argv) <= 2:
    for i in range(3):
        em.emit({"kind": "start", "id": str(i + 1), "name": "a step", "type": "step"})
    print("first", *em.flush(30))
for i in range(50 if len(sys.argv) <= 2 else 100_000):
    em.emit({"kind": "start", "id": str(i + 4), "name": "a step", "type": "step", "data": data})
last, err = em.flush(None)
print("last", last)
print("error", err)
print("told", len(told))
