import json
import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "testdata", "serve_driver.py")


def serve(spec, env=None):
    """Runs one Run call through _serve.run in a process of its own (it
    makes fd 2 the task's log) and returns the answer and the task.log."""
    with tempfile.TemporaryDirectory() as d:
        log_dir = os.path.join(d, "tasks", spec.get("task_id", "t1"))
        os.makedirs(log_dir)
        spec = dict(spec, log_dir=log_dir)
        out = os.path.join(d, "out.json")
        e = dict(os.environ, TASKHOST_PACK_PLUGIN="3f0c9a1e6b7d4c2a", **(env or {}))
        p = subprocess.run(["/usr/bin/python3", DRIVER, json.dumps(spec), out], env=e,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("driver: %s %s" % (p.stdout, p.stderr))
        with open(out) as f:
            ans = json.load(f)
        path = os.path.join(log_dir, "task.log")
        log = ""
        if os.path.exists(path):
            with open(path) as f:
                log = f.read()
        return ans, log, p.stdout + p.stderr


class TestServe(unittest.TestCase):
    def test_a_task(self):
        ans, log, stray = serve({"task": "lookup", "task_id": "lk", "args_json": '{"name":"r1"}'})
        self.assertEqual(ans["result"], "passed")
        self.assertEqual(ans["outputs"], {"addr": '"192.0.2.91"', "name": '"r1"'})
        self.assertEqual(ans["last_seq"], 3)  # start, end, the task's end
        self.assertEqual(ans["cookie"], "", "the handshake cookie must be gone before the task runs")
        self.assertIn("[INFO]  lk: STEP 1: resolve r1: step=1\n", log)
        self.assertIn("[INFO]  lk: task lk => Passed", log)

    def test_unknown_task_is_refused(self):
        ans, _, _ = serve({"task": "nope", "task_id": "x"})
        self.assertEqual(ans["error"], [2, "pack demo has no task 'nope'"])

    def test_stderr_and_tracebacks_land_in_the_log(self):
        ans, log, stray = serve({"task": "crash", "task_id": "c"})
        self.assertEqual((ans["result"], ans["reason"]), ("errored", ""))
        self.assertIn("Traceback (most recent call last):", log)
        ans, log, stray = serve({"task": "kinds", "task_id": "k", "args_json": json.dumps(
            {"s": "x", "n": 1, "f": 1, "b": False, "l": [], "m": {}, "port": {"name": "a", "speed": None, "tags": None},
             "ports": None, "anything": None, "maybe": None, "logged": True})})
        self.assertEqual(ans["result"], "passed", log)
        self.assertIn("a print to stderr\n", log)
        self.assertIn("[WARN]  k.lib: a library logs through the root logger", log)
        self.assertNotIn("a print to stderr", stray)

    def test_sensitive_values_are_masked(self):
        ans, log, _ = serve({"task": "secret", "task_id": "s", "args_json": '{"password":"hunter2-secret"}',
                             "sensitive": ["hunter2-secret"]})
        self.assertEqual((ans["result"], ans["reason"]), ("failed", "wrong password (sensitive)"))
        self.assertIn("using (sensitive)", log)
        self.assertNotIn("hunter2", log.replace("printed hunter2-secret", ""))

    def test_cancel_ends_a_sleeping_task_aborted(self):
        ans, log, _ = serve({"task": "wait", "task_id": "w", "args_json": '{"seconds": 300}'}, env={"CANCEL_AFTER": "0.5"})
        self.assertEqual((ans["result"], ans["reason"]), ("aborted", "stopped: context canceled"))
        self.assertIn("STEP 1: wait 300s => Aborted: step=1", log)

    def test_interactive_task_talks_through_fds_3_and_4(self):
        with tempfile.TemporaryDirectory() as d:
            tin, tout = os.path.join(d, "in"), os.path.join(d, "out")
            with open(tin, "w") as f:
                f.write("lab\n")
            ans, log, stray = serve({"task": "ask", "task_id": "a", "interactive": True},
                                    env={"TERM_IN": tin, "TERM_OUT": tout})
            self.assertEqual(ans["result"], "passed", log)
            with open(tout) as f:
                self.assertEqual(f.read(), "your name? hello, lab\n")
        ans, log, _ = serve({"task": "ask", "task_id": "a"})
        self.assertEqual((ans["result"], ans["reason"]), ("errored", ""))
        self.assertIn("EOFError", log)

    def test_a_hook(self):
        ans, log, _ = serve({"task_id": "notify.post_task.t1", "args_json": '{"url":"http://x"}',
                             "hook": {"name": "notify", "stage": "post_task", "task_id": "t1",
                                      "results_json": b'{"job":"j"}'.decode()}})
        self.assertEqual(ans["result"], "passed", log)
        self.assertEqual(ans["outputs"], {})
        self.assertIn("STEP 1: notify t1 at post_task", log)
        ans, _, _ = serve({"task_id": "x", "hook": {"name": "notify", "stage": "pre_job"}})
        self.assertEqual(ans["error"], [2, "hook 'notify' of pack demo does not run at stage 'pre_job'"])


if __name__ == "__main__":
    unittest.main()
