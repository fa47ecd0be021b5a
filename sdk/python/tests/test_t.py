import json
import logging
import os
import tempfile
import unittest

from taskhost import _log, _mask, _mem, _serve, _t
from taskhost import _results as R


class Run:
    """A task run in this process with a Mem emitter and a real log file
    in a run directory (<tmp>/tasks/t1/task.log)."""

    def __init__(self, fn, sensitive=(), outputs=()):
        self.tmp = tempfile.TemporaryDirectory()
        self.log_dir = os.path.join(self.tmp.name, "tasks", "t1")
        os.makedirs(self.log_dir)
        self.masker = _mask.Masker(sensitive)
        self.log = _log.LogFile.open(self.log_dir, "task.log", self.masker)
        self.mem = _mem.Mem()
        em = self.mem if self.masker.empty else _serve.Masking(self.mem, self.masker)
        self.run = _t.Run("t1", em, log=self.log, log_dir=self.log_dir, outputs=_t.Outputs(outputs),
                          masker=self.masker)
        self.handler = _t.attach_logging(self.run, self.log, "t1")
        try:
            self.result, self.reason = _t.run_task(self.run, fn)
        finally:
            logging.getLogger().removeHandler(self.handler)
            self.log.close()
        with open(os.path.join(self.log_dir, "task.log"), "rb") as f:
            self.text = f.read()
        self.tmp.cleanup()

    def events(self, *keys):
        keys = keys or ("kind", "id", "parent", "name", "type", "result", "reason")
        return [{k: ev[k] for k in keys if ev.get(k)} for ev in self.mem.events]

    def tree(self):
        def walk(ns):
            return [(n.id, n.name, n.result, n.reason, walk(n.sections)) for n in ns]
        return walk(self.mem.sections)

    def lines_of(self, step_id):
        ev = [e for e in self.mem.events if e["kind"] == "end" and e.get("id") == step_id][0]
        lg = ev["logs"]
        return self.text[lg["begin"]:lg["begin"] + lg["size"]].decode()


class TestSteps(unittest.TestCase):
    def test_the_go_sdks_events(self):
        def task(t):
            with t.section("setup"):
                with t.step("connect") as s:
                    s.set_data({"os": "iosxe"})
            with t.step("ping", continue_=True) as s:
                s.failed("2 of 3 packets lost")
        r = Run(task)
        self.assertEqual(r.events(), [
            {"kind": "start", "id": "1", "name": "setup", "type": "section"},
            {"kind": "start", "id": "1.1", "parent": "1", "name": "connect", "type": "step"},
            {"kind": "end", "id": "1.1", "result": "passed"},
            {"kind": "end", "id": "1", "result": "passed"},
            {"kind": "start", "id": "2", "name": "ping", "type": "step"},
            {"kind": "end", "id": "2", "result": "failed", "reason": "2 of 3 packets lost"},
            {"kind": "end", "result": "failed"},
        ])
        self.assertEqual([e["seq"] for e in r.mem.events], list(range(1, 8)))
        self.assertEqual(r.mem.events[2]["data"], b'{"os":"iosxe"}')
        self.assertIs(r.result, R.Failed)

    def test_result_ends_the_step_at_once(self):
        ran = []

        def task(t):
            with t.step("a", continue_=True) as s:
                try:
                    s.skipped("not here")
                except Exception:
                    ran.append("except Exception caught it")
                ran.append("after skipped")
            ran.append("after a")
        r = Run(task)
        self.assertEqual(ran, ["after a"])
        self.assertEqual(r.tree(), [("1", "a", "skipped", "not here", [])])
        self.assertIs(r.result, R.Skipped)  # the rollup of its one step, as in Go

    def test_a_failed_step_stops_its_parent_unless_continue(self):
        ran = []

        def task(t):
            with t.section("tc1", continue_=True):
                with t.step("s1"):
                    t.failed("no")  # t: the innermost open step
                ran.append("tc1 went on")
            with t.section("tc2"):
                with t.step("s1", continue_=True) as s:
                    s.blocked("missing")
                ran.append("tc2 went on")
                with t.step("s2"):
                    t.errored("bad")
                ran.append("tc2 after s2")
            ran.append("task after tc2")
        r = Run(task)
        self.assertEqual(ran, ["tc2 went on"])
        self.assertEqual(r.tree(), [
            ("1", "tc1", "failed", "", [("1.1", "s1", "failed", "no", [])]),
            ("2", "tc2", "errored", "", [("2.1", "s1", "blocked", "missing", []),
                                        ("2.2", "s2", "errored", "bad", [])]),
        ])
        self.assertIs(r.result, R.Errored)

    def test_nesting_and_rollup(self):
        def task(t):
            with t.step("a") as a:
                with a.step("b"):
                    with t.step("c", continue_=True) as c:
                        c.passx("noted")
                    with t.step("d", continue_=True) as d:
                        d.skipped("n/a")
            with t.step("e"):
                pass
        r = Run(task)
        self.assertEqual(r.tree(), [
            ("1", "a", "passx", "", [("1.1", "b", "passx", "", [("1.1.1", "c", "passx", "noted", []),
                                                                ("1.1.2", "d", "skipped", "n/a", [])])]),
            ("2", "e", "passed", "", []),
        ])
        self.assertIs(r.result, R.Passx)

    def test_steps_in_threads(self):
        import threading

        def task(t):
            with t.step("parallel") as p:
                def worker(i):
                    with p.step("worker %d" % i) as w:
                        t.log.info("in worker %d", i)
                        with t.step("inner"):  # t: this thread's innermost step
                            pass
                ths = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
                for th in ths:
                    th.start()
                    th.join()
        r = Run(task)
        self.assertEqual(r.tree(), [("1", "parallel", "passed", "", [
            ("1.1", "worker 0", "passed", "", [("1.1.1", "inner", "passed", "", [])]),
            ("1.2", "worker 1", "passed", "", [("1.2.1", "inner", "passed", "", [])])])])
        self.assertIn("in worker 1: step=1.2\n", r.text.decode())

    def test_a_step_that_fails_in_a_thread_ends_the_thread_quietly(self):
        import threading

        seen = []
        before = threading.excepthook
        threading.excepthook = lambda args: seen.append(args.exc_type)
        self.addCleanup(setattr, threading, "excepthook", before)

        def task(t):
            with t.step("parallel", continue_=True) as p:
                def worker():
                    with p.step("worker"):
                        raise RuntimeError("broke")
                def other():
                    raise ValueError("not the SDK's")
                for fn in (worker, other):
                    th = threading.Thread(target=fn)
                    th.start()
                    th.join()
        r = Run(task)
        self.assertEqual(r.tree(), [("1", "parallel", "errored", "", [
            ("1.1", "worker", "errored", "RuntimeError: broke", [])])])
        self.assertEqual(seen, [ValueError])

    def test_reasons_and_names_that_are_not_utf8(self):
        def task(t):
            with t.step(os.fsdecode(b"name \xff"), continue_=True) as s:
                s.failed(os.fsdecode(b"port \xff\xfe down"))
            with t.step("bytes", continue_=True) as s:
                s.failed(b"port \xff down")
            with t.step("lone", continue_=True) as s:
                s.failed("half \ud800 a pair")
            with t.step("other") as s:
                s.skipped(42)
        r = Run(task)
        self.assertEqual(r.tree(), [
            ("1", "name \ufffd", "failed", "port \ufffd\ufffd down", []),
            ("2", "bytes", "failed", "port \ufffd down", []),
            ("3", "lone", "failed", "half ? a pair", []),
            ("4", "other", "skipped", "42", [])])

    def test_exception_is_errored_with_the_traceback_in_the_log(self):
        def task(t):
            with t.step("boom"):
                {}["missing"]
            with t.step("never"):
                pass
        r = Run(task)
        self.assertEqual(r.tree(), [("1", "boom", "errored", "KeyError: 'missing'", [])])
        self.assertIs(r.result, R.Errored)
        lines = r.lines_of("1")
        self.assertIn("[ERROR] t1: KeyError: 'missing'\nTraceback (most recent call last):\n", lines)
        self.assertIn('{}["missing"]', lines)
        self.assertNotIn("never", r.text.decode())

    def test_exception_outside_steps(self):
        def task(t):
            raise ValueError("bad value")
        r = Run(task)
        self.assertEqual((r.result, r.reason), (R.Errored, "ValueError: bad value"))
        self.assertEqual(r.events()[-1], {"kind": "end", "result": "errored", "reason": "ValueError: bad value"})

    def test_task_level_result_and_data(self):
        def task(t):
            t.set_data([1, 2])
            t.blocked("no device")
        r = Run(task)
        self.assertEqual((r.result, r.reason), (R.Blocked, "no device"))
        self.assertEqual(r.mem.events[-1]["data"], b"[1,2]")

    def test_keyboard_interrupt_is_aborted(self):
        def task(t):
            with t.step("wait"):
                t._run.cause = "context canceled"
                t._run.cancelled.set()
                raise KeyboardInterrupt
        r = Run(task)
        self.assertEqual(r.tree(), [("1", "wait", "aborted", "stopped: context canceled", [])])
        self.assertEqual((r.result, r.reason), (R.Aborted, "stopped: context canceled"))

    def test_a_passing_task_told_to_stop_is_aborted(self):
        def task(t):
            t._run.cause = "context deadline exceeded"
            t.cancelled.set()
        r = Run(task)
        self.assertEqual((r.result, r.reason), (R.Aborted, "stopped: context deadline exceeded"))

    def test_outputs(self):
        def task(t):
            t.set_output("addr", "192.0.2.1")
            with t.step("undeclared", continue_=True):
                t.set_output("nope", 1)
            with t.step("not json", continue_=True):
                t.set_output("addr", object())
        r = Run(task, outputs=["addr"])
        self.assertEqual(r.run.outputs.snapshot(), {"addr": b'"192.0.2.1"'})
        tree = r.tree()
        self.assertEqual([n[2] for n in tree], ["errored", "errored"])
        self.assertIn("declares no such output", tree[0][3])


class TestLog(unittest.TestCase):
    def test_step_offsets_hold_the_steps_lines(self):
        def task(t):
            logging.getLogger("lib").info("before")
            with t.step("one"):
                t.log("in %s", "one")
                with t.step("two"):
                    logging.getLogger("lib").warning("in two")
            t.log.debug("after")
        r = Run(task)
        one = r.lines_of("1")
        two = r.lines_of("1.1")
        self.assertTrue(one.startswith(two) is False and two in one)
        self.assertRegex(one.splitlines()[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d{4}) \[INFO\]  t1: STEP 1: one: step=1$")
        self.assertIn("[INFO]  t1: in one: step=1\n", one)
        self.assertIn("[WARN]  t1.lib: in two: step=1.1\n", two)
        self.assertTrue(one.endswith("STEP 1: one => Passed: step=1\n"))
        self.assertNotIn("before", one)
        self.assertNotIn("after", one)
        text = r.text.decode()
        self.assertIn("[INFO]  t1.lib: before\n", text)
        self.assertIn("[DEBUG] t1: after\n", text)
        self.assertRegex(text, r"\[INFO\]  t1: task t1 => Passed: elapsed=(0s|\d+ms)\n$")
        ref = [e for e in r.mem.events if e.get("id") == "1" and e["kind"] == "end"][0]["logs"]
        self.assertEqual(ref["file"], "tasks/t1/task.log")

    def test_format_line(self):
        # Lines as go-hclog writes them.
        t = 0.5
        ts = _log.timestamp(t)
        self.assertEqual(_log.format_line(t, 20, "checks", "STEP 2.2: up", [("step", "2.2")]),
                         ts + " [INFO]  checks: STEP 2.2: up: step=2.2\n")
        self.assertEqual(_log.format_line(t, 40, "x", "m", [("error", "no such file"), ("n", "")]),
                         ts + ' [ERROR] x: m: error="no such file" n=""\n')
        self.assertEqual(_log.format_line(t, 5, "x", "m", [("v", "a\nb")]),
                         ts + " [TRACE] x: m:\n  v=\n  | a\n  | b\n  \n")
        self.assertEqual(_log.go_duration(0.0004), "0s")
        self.assertEqual(_log.go_duration(0.012), "12ms")
        self.assertEqual(_log.go_duration(1.5), "1.5s")
        self.assertEqual(_log.go_duration(123.25), "2m3.25s")

    def test_lost_lines_make_the_step_errored(self):
        def task(t):
            with t.step("full disk", continue_=True):
                t._run.log.fd, saved = -1, t._run.log.fd
                t.log.info("lost")
                t._run.log.fd = saved
        r = Run(task)
        tree = r.tree()
        self.assertEqual(tree[0][2], "errored")
        self.assertRegex(tree[0][3], r"^\d+ log lines? not written to tasks/t1/task.log: bad file descriptor$")


class TestMask(unittest.TestCase):
    def test_events_logs_and_reason(self):
        def task(t):
            with t.step("login as hunter2-secret", continue_=True) as s:
                t.log.info("password is hunter2-secret")
                s.set_data({"pw": "hunter2-secret", "hunter2-secret": 1})
                s.failed("hunter2-secret refused")
            t.failed('said "hunter2-secret"')
        r = Run(task, sensitive=["hunter2-secret", "abc"])
        everything = json.dumps(r.events("name", "reason")) + repr([e.get("data") for e in r.mem.events])
        self.assertNotIn("hunter2", everything + r.text.decode())
        self.assertIn("login as (sensitive)", everything)
        self.assertIn("password is (sensitive)", r.text.decode())
        data = [e for e in r.mem.events if e.get("data")][0]["data"]
        self.assertEqual(json.loads(data), {"pw": "(sensitive)", "(sensitive)": 1})
        self.assertEqual(r.events("reason")[-1], {"reason": 'said "(sensitive)"'})
        m = _mask.Masker(["hunter2-secret", "abc"])
        self.assertEqual(m.string("x abc y"), "x abc y")  # shorter than 4 bytes: left

    def test_forms(self):
        m = _mask.Masker(['a"<b>\n'])
        self.assertEqual(m.string('json: "a\\"\\u003cb\\u003e\\n"'), 'json: "(sensitive)"')
        self.assertEqual(m.string('raw: a"<b>\n.'), "raw: (sensitive).")
        self.assertEqual(m.json(b'{"k":"a\\"<b>\\n"}'), b'{"k":"(sensitive)"}')


if __name__ == "__main__":
    unittest.main()
