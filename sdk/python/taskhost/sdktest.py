"""Run a pack's tasks through a real host, from a unittest.

The Python counterpart of the Go SDK's sdktest: a Harness builds the pack
(its source directory, with the SDK running the test, into a zipapp; or
a zipapp already built), writes a jobfile, and runs it with
`taskhost run --json` (the taskhost binary named by $TASKHOST, else the
one on PATH), so the task runs in a pack process of its own, reports
through the run's hub, and leaves a run directory. A test then asserts
on the result tree that results.json holds::

    import unittest
    from taskhost import sdktest

    class PingTest(unittest.TestCase):
        def test_ping(self):
            h = sdktest.Harness(self, ".")          # the pack beside this test
            run = h.run("ping", {"host": "localhost", "count": 1})
            run.assert_result("passed")
            run.assert_step("ping", "passed")
            self.assertIn("1 packets", run.log)

Each run is a run of its own (its own hub and shared state, started from
the Harness's state); Harness.job runs several tasks in one run, where
they share the state and hand outputs to each other.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

__all__ = ["Harness", "Task", "Run", "Job", "Step", "SdktestError", "hcl"]


class SdktestError(Exception):
    """The harness could not run the job (no taskhost binary, a jobfile
    that taskhost refused, no results.json)."""


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _hcl_string(s):
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    # ${ and %{ start a template in HCL: $${ and %%{ are the literal text.
    return "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


def hcl(value):
    """value (None, bool, int, float, str, list, tuple, dict of str) as an
    HCL expression that evaluates to it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} has no HCL form")
        return repr(value)
    if isinstance(value, str):
        return _hcl_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl(v) for v in value) + "]"
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"key {k!r}: keys must be strings")
            items.append(_hcl_string(k) + " = " + hcl(v))
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"{type(value).__name__} has no HCL form")


class Task:
    """One task of a Harness.job: its id in the jobfile, the pack's task,
    its arguments, the ids of the tasks it depends on, and extra
    attributes of its task block as HCL text (timeout = "5s")."""

    def __init__(self, id, task, args=None, depends_on=(), timeout=None, extra=""):
        self.id, self.task, self.args = id, task, args or {}
        self.depends_on, self.timeout, self.extra = list(depends_on), timeout, extra


class Step:
    """A section or step of the result tree, as results.json has it."""

    def __init__(self, d, parent=None):
        self.raw = d
        self.id = d.get("id", "")
        self.name = d.get("name", "")
        self.type = d.get("type", "")
        r = d.get("result") or {}
        self.result = r.get("value", "")
        self.reason = r.get("reason", "")
        self.data = r.get("data")
        self.parent = parent
        self.steps = [Step(c, self) for c in d.get("sections") or []]

    def walk(self):
        yield self
        for s in self.steps:
            yield from s.walk()

    def __repr__(self):
        return f"Step({self.id} {self.name!r}: {self.result} {self.reason!r})"


def _tree_text(steps, indent=""):
    lines = []
    for s in steps:
        line = f"{indent}{s.id} {s.name}: {s.result}"
        if s.reason:
            line += f" ({s.reason})"
        lines.append(line)
        lines.extend(_tree_text(s.steps, indent + "  "))
    return lines


class Run:
    """What one task did: its result and reason, its tree of sections and
    steps, its outputs and log; raw is the task's object in results.json."""

    def __init__(self, job, d):
        self.job = job
        self.raw = d
        self.id = d.get("id", "")
        r = d.get("result") or {}
        self.result = r.get("value", "")
        self.reason = r.get("reason", "")
        self.outputs = d.get("outputs") or {}
        self.steps = [Step(c) for c in d.get("sections") or []]
        self.pid = d.get("pid")

    @property
    def state(self):
        """The run's shared state when it ended (key -> value)."""
        return self.job.state

    @property
    def log(self):
        """The task's task.log ("" when it never started)."""
        f = self.raw.get("logfile")
        if not f:
            return ""
        try:
            with open(os.path.join(self.job.rundir, f), encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""

    def walk(self):
        """Every section and step, depth first."""
        for s in self.steps:
            yield from s.walk()

    def find(self, key):
        """The first section or step whose name, or id ("2.1"), is key; None if none."""
        for s in self.walk():
            if s.name == key or s.id == key:
                return s
        return None

    def text(self):
        """The result and the tree, one line a step, for failure messages."""
        head = f"task {self.id}: {self.result}"
        if self.reason:
            head += f" ({self.reason})"
        return "\n".join([head] + _tree_text(self.steps, "  "))

    def _fail(self, msg):
        raise AssertionError(f"{msg}\n{self.text()}\nrun directory: {self.job.rundir}")

    def assert_result(self, result, reason=None):
        """Fails unless the task ended with result ("passed", "failed",
        ...), and, if reason is given, a reason containing it."""
        if self.result != result:
            self._fail(f"task {self.id} ended {self.result}, want {result}")
        if reason is not None and reason not in self.reason:
            self._fail(f"task {self.id}'s reason {self.reason!r} does not contain {reason!r}")
        return self

    def assert_passed(self):
        return self.assert_result("passed")

    def assert_step(self, key, result, reason=None):
        """Fails unless the section or step named key (or with id key)
        ended with result (and a reason containing reason); returns it."""
        s = self.find(key)
        if s is None:
            self._fail(f"task {self.id} has no step {key!r}")
        if s.result != result:
            self._fail(f"step {s.id} {s.name!r} ended {s.result}, want {result}")
        if reason is not None and reason not in s.reason:
            self._fail(f"step {s.id} {s.name!r}'s reason {s.reason!r} does not contain {reason!r}")
        return s

    def __repr__(self):
        return f"Run({self.id}: {self.result} {self.reason!r})"


class Job:
    """A whole run: its result, its tasks' Runs by id, its shared state,
    the run directory, the taskhost exit code, its events (--json) and
    stderr; results is results.json as a dict."""

    def __init__(self, code, events, stderr, rundir, results):
        self.code, self.events, self.stderr = code, events, stderr
        self.rundir, self.results = rundir, results
        report = results.get("report", {})
        self.result = report.get("result", "")
        self.state = report.get("state") or {}
        self.summary = report.get("summary") or {}
        self.tasks = {t["id"]: Run(self, t) for t in report.get("tasks") or []}

    def task(self, id):
        try:
            return self.tasks[id]
        except KeyError:
            raise AssertionError(f"no task {id!r} in the run (tasks: {sorted(self.tasks)})") from None


def _taskhost():
    exe = os.environ.get("TASKHOST") or shutil.which("taskhost")
    if not exe:
        raise SdktestError("no taskhost binary: set $TASKHOST to one, or put taskhost on PATH (make install in taskhost)")
    return exe


class Harness:
    """Runs the tasks of one pack through taskhost.

    pack is the pack's source directory (its pack.py: the Harness builds
    it with the SDK of this module into a zipapp, once) or a pack file to
    run as it is (a built zipapp, or any pack binary). test, a
    unittest.TestCase, cleans the harness up when the test ends (else
    call close()). state is the run's initial shared state (keys are HCL
    identifiers, values JSON-like); timeout the job's timeout ("2m")."""

    def __init__(self, test=None, pack=".", state=None, timeout="2m", name="pack"):
        self._tmp = tempfile.mkdtemp(prefix="taskhost-sdktest-")
        if test is not None:
            test.addCleanup(self.close)
        self.state = dict(state or {})
        for k in self.state:
            if not _IDENT.match(k) or k.startswith("_"):
                raise ValueError(f"state key {k!r}: a jobfile's state keys are identifiers not starting with _")
        self.timeout, self.name = timeout, name
        pack = os.path.abspath(pack)
        if os.path.isdir(pack):
            from taskhost import _build
            out = os.path.join(self._tmp, name)
            try:
                _build.build(pack, out, python=sys.executable)
            except _build.BuildError as e:
                raise SdktestError(f"build the pack: {e}") from None
            self.pack = out
        else:
            self.pack = pack
        self.taskhost = _taskhost()
        self._n = 0

    def close(self):
        shutil.rmtree(self._tmp, ignore_errors=True)

    def jobfile(self, tasks):
        """The jobfile Harness.job runs for tasks."""
        lines = [f'job "sdktest" {{\n  timeout = {hcl(self.timeout)}\n}}',
                 f'pack {hcl(self.name)} {{\n  path = {hcl(self.pack)}\n}}']
        if self.state:
            lines.append("state {\n" + "".join(f"  {k} = {hcl(v)}\n" for k, v in self.state.items()) + "}")
        for t in tasks:
            body = [f"  pack = {hcl(self.name)}", f"  task = {hcl(t.task)}", f"  args = {hcl(t.args)}"]
            if t.depends_on:
                body.append("  depends_on = [" + ", ".join(f"task.{d}" for d in t.depends_on) + "]")
            if t.timeout:
                body.append(f"  timeout = {hcl(t.timeout)}")
            if t.extra:
                body.append("  " + t.extra)
            lines.append(f"task {hcl(t.id)} {{\n" + "\n".join(body) + "\n}")
        return "\n\n".join(lines) + "\n"

    def job(self, tasks, args=()):
        """Runs tasks (Task objects) in one run and returns the Job.
        args are more arguments of taskhost run."""
        self._n += 1
        d = os.path.join(self._tmp, f"job{self._n}")
        os.makedirs(d)
        path = os.path.join(d, "job.hcl")
        with open(path, "w") as f:
            f.write(self.jobfile(tasks))
        runs = os.path.join(d, "runs")
        p = subprocess.run([self.taskhost, "run", "--json", "--runs-dir", runs, *args, path],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        events = []
        for line in p.stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        rundir = next((e.get("rundir") for e in events if e.get("type") == "job_finished"), None)
        if not rundir:
            raise SdktestError(f"taskhost run ended with {p.returncode} and no run: {p.stderr.strip()}")
        try:
            with open(os.path.join(rundir, "results.json")) as f:
                results = json.load(f)
        except (OSError, ValueError) as e:
            raise SdktestError(f"read results.json: {e}\n{p.stderr}") from None
        return Job(p.returncode, events, p.stderr, rundir, results)

    def run(self, task, args=None, timeout=None):
        """Runs one task with args (a dict, as a jobfile's args) in a run
        of its own and returns its Run."""
        return self.job([Task("task", task, args, timeout=timeout)]).task("task")

    def validate(self, tasks):
        """Runs taskhost validate on the jobfile of tasks; returns
        (exit code, output)."""
        self._n += 1
        d = os.path.join(self._tmp, f"job{self._n}")
        os.makedirs(d)
        path = os.path.join(d, "job.hcl")
        with open(path, "w") as f:
            f.write(self.jobfile(tasks))
        p = subprocess.run([self.taskhost, "validate", path], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr
