"""pyload: a Python pack that reports much and adds much, for the
end-to-end tests of reporting and shared state under dropped
connections, and of a Python child under a Go task."""

import sys

from taskhost import Pack, T

pack = Pack("pyload", "1.0.0")


@pack.task("many", doc="Reports n steps, named s1 to sN.")
def many(t: T, n: int):
    for i in range(1, n + 1):
        with t.step("s%d" % i):
            pass


@pack.task("count", doc="Adds 1 to a counter n times.")
def count(t: T, key: str, n: int):
    with t.step("count"):
        for _ in range(n):
            t.state.add(key, 1)


if __name__ == "__main__":
    pack.run()
