"""The Redis peer of BenchmarkPythonState: INCR key n times with Debian's
python3-redis, after procs clients have counted themselves in at "ready";
prints {"elapsed_ns": ..., "lat_us": [...]} as the pack's add task
records it.

    redis_incr.py PORT KEY N PROCS
"""
import json
import sys
import time

import redis

port, key, n, procs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = redis.Redis(host="127.0.0.1", port=port)
r.incr(key + ".ready")
while int(r.get(key + ".ready")) < procs:
    time.sleep(0.001)
clock = time.perf_counter_ns
lat = []
start = clock()
for _ in range(n):
    t0 = clock()
    r.incr(key)
    lat.append((clock() - t0) // 1000)
print(json.dumps({"elapsed_ns": clock() - start, "lat_us": lat}))
