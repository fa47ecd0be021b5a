"""Reports N events (N/2 steps) to the hub, or with "file" writes the
same events, encoded the same way, to a file by hand (the floor); prints
events/s, the flush included."""
import os
import sys
import tempfile
import time

import hubenv
from taskhost import _emit

n = int(sys.argv[1])
to_file = len(sys.argv) > 2 and sys.argv[2] == "file"
if to_file:
    f = tempfile.TemporaryFile()
    seq = 0
    head, tail = _emit._head(""), _emit._pid_field(os.getpid())
    start = time.perf_counter()
    for i in range(n // 2):
        sid = str(i + 1)
        for ev in ({"kind": "start", "id": sid, "name": "step " + sid, "type": "step"},
                   {"kind": "end", "id": sid, "result": "passed"}):
            seq += 1
            f.write(_emit._encode(ev, seq, head, time.time_ns(), tail))
    f.flush()
    os.fsync(f.fileno())
else:
    em = _emit.Hub.dial(hubenv.hub(), "rate", "")
    start = time.perf_counter()
    for i in range(n // 2):
        sid = str(i + 1)
        em.emit({"kind": "start", "id": sid, "name": "step " + sid, "type": "step"})
        em.emit({"kind": "end", "id": sid, "result": "passed"})
    last, err = em.flush(60)
    assert err is None and last == n, (last, err)
print("%.0f" % (n / (time.perf_counter() - start)))
