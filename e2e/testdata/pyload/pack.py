"""pyload: a Python pack that reports much and adds much, for the
end-to-end tests of reporting and shared state under dropped
connections, and of children across languages (a Go child of a Python task)."""

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


@pack.task("command", doc="Runs argv with t.command in a step spawn, then a step after; spawn fails when argv does.")
def command(t: T, argv: list[str]):
    with t.step("spawn") as s:
        status = t.command(argv).wait()
        if status != 0:
            s.failed("%s exited with status %d" % (argv, status))
    with t.step("after"):
        pass


if __name__ == "__main__":
    pack.run()
