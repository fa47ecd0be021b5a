"""The seven pyATS results and their rollup (the same as the Go SDK's sdk/result)."""


class Result:
    """One of the seven results. str() gives the name in results.json
    ("passed"), .title the name as pyATS prints it ("Passed"). Results
    compare by severity:
    Skipped < Passed < Passx < Blocked < Failed < Errored < Aborted."""

    __slots__ = ("name", "title", "rank")

    def __init__(self, name, rank):
        self.name = name
        self.title = name[:1].upper() + name[1:]
        self.rank = rank

    @property
    def success(self):
        """Passed, Passx and Skipped are successes: they count towards the
        success rate, and a step that is not one stops the step or section
        that started it (unless it was started with continue_=True)."""
        return self.rank <= 3

    def __str__(self):
        return self.name

    def __repr__(self):
        return self.title

    def __lt__(self, other):
        return self.rank < other.rank

    def __le__(self, other):
        return self.rank <= other.rank

    def __gt__(self, other):
        return self.rank > other.rank

    def __ge__(self, other):
        return self.rank >= other.rank

    def __reduce__(self):
        return (parse, (self.name,))


Skipped = Result("skipped", 1)
Passed = Result("passed", 2)
Passx = Result("passx", 3)
Blocked = Result("blocked", 4)
Failed = Result("failed", 5)
Errored = Result("errored", 6)
Aborted = Result("aborted", 7)

ALL = (Skipped, Passed, Passx, Blocked, Failed, Errored, Aborted)
_BY_NAME = {r.name: r for r in ALL}


def parse(name):
    """The result called name, in any case; ValueError for another name."""
    r = _BY_NAME.get(name.strip().lower())
    if r is None:
        raise ValueError(
            "unknown result %r (want one of passed, failed, errored, aborted, "
            "blocked, skipped, passx)" % name)
    return r


def rollup(*rs):
    """The most severe of rs; None (unset) is ignored, and rollup() is None."""
    out = None
    for r in rs:
        if r is not None and (out is None or r.rank > out.rank):
            out = r
    return out
