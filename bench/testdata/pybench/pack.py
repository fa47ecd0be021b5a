"""pybench: the Python pack the benchmarks of bench/ run (python_test.go).

    pass   passes, with one step, as the Go test pack's pass does
    many   reports n steps, named s1 to sN
    add    adds 1 n times to a shared counter, after a barrier of procs
           tasks, and records the time of each add as the task's data
"""

import time

from taskhost import Pack, T

pack = Pack("pybench", "0.1.0")


@pack.task("pass", doc="Passes.")
def pass_(t: T):
    with t.step("ok"):
        pass


@pack.task("many", doc="Reports n steps, named s1 to sN.")
def many(t: T, n: int):
    step = t.step
    for i in range(1, n + 1):
        with step("s%d" % i):
            pass


@pack.task("add", doc="Adds 1 n times to the counter key, after procs add tasks reach a barrier; "
           "records each add's latency.")
def add(t: T, n: int, key: str, procs: int = 1):
    st = t.state
    st.barrier(key + ".start", procs)
    clock = time.perf_counter_ns
    lat = []
    start = clock()
    for _ in range(n):
        t0 = clock()
        st.add(key)
        lat.append((clock() - t0) // 1000)
    t.set_data({"elapsed_ns": clock() - start, "lat_us": lat})


if __name__ == "__main__":
    pack.run()
