"""Adds 1 N times to a counter, by the SDK's state client or (with
"redis PORT") by redis-py's INCR; prints adds/s."""
import sys
import time

import hubenv

n = int(sys.argv[1])
if len(sys.argv) > 2 and sys.argv[2] == "redis":
    import redis

    r = redis.Redis(port=int(sys.argv[3]))
    add = lambda: r.incr("count")  # noqa: E731
else:
    from taskhost import _state

    h = hubenv.hub()
    st = _state.State(h.state_socket, h.token, "rate")
    add = lambda: st.add("count")  # noqa: E731
add()
start = time.perf_counter()
for _ in range(n):
    add()
print("%.0f" % (n / (time.perf_counter() - start)))
