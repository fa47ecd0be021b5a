"""Reports one step and flushes; says "flushed" and waits for a line on
stdin (the test revokes the task's token meanwhile); then reports more
and prints what flush returns and what the task was told."""
import sys

import hubenv
from taskhost import _emit

em = _emit.Hub.dial(hubenv.hub(), "revoked", "")
told = []
em.on_refused = told.append
em.emit({"kind": "start", "id": "1", "name": "before", "type": "step"})
em.emit({"kind": "end", "id": "1", "result": "passed"})
last, err = em.flush(30)
print("flushed", last, err, flush=True)
sys.stdin.readline()
for i in range(2, 200):
    em.emit({"kind": "start", "id": str(i), "name": "after", "type": "step"})
    em.emit({"kind": "end", "id": str(i), "result": "passed"})
last, err = em.flush(30)
print("last", last)
print("error", err)
print("told", len(told), told[0] if told else "")
last2, err2 = em.flush(30)
print("again", last2, err2 == err)
