"""Reports N steps (2N events), "step 1" ... "step N", each passed, then
the task's end; prints the last event's number as flush returned it."""
import sys

import hubenv
from taskhost import _emit

n = int(sys.argv[1])
em = _emit.Hub.dial(hubenv.hub(), "steps", "")
for i in range(1, n + 1):
    sid = str(i)
    em.emit({"kind": "start", "id": sid, "name": "step %d" % i, "type": "step"})
    em.emit({"kind": "end", "id": sid, "result": "passed"})
em.emit({"kind": "end", "result": "passed"})
last, err = em.flush(60)
em.close()
print(last)
if err:
    print(err, file=sys.stderr)
    sys.exit(1)
