"""taskhost.sdktest against a real host: the harness runs any pack binary,
so these tests use the Go demo pack ($SDKTEST_GO_PACK) and the taskhost of
$TASKHOST (sdk/python's Go test builds both)."""

import os
import unittest

from taskhost import sdktest

GO_PACK = os.environ.get("SDKTEST_GO_PACK")


class HCLTest(unittest.TestCase):
    def test_values(self):
        self.assertEqual(sdktest.hcl({"a": [1, 2.5, True, None], "b c": "x"}),
                         '{"a" = [1, 2.5, true, null], "b c" = "x"}')
        self.assertEqual(sdktest.hcl('q"\\\n${x}%{y}\x01'), '"q\\"\\\\\\n$${x}%%{y}\\u0001"')
        with self.assertRaises(TypeError):
            sdktest.hcl(object())


@unittest.skipUnless(GO_PACK and os.environ.get("TASKHOST"), "needs $TASKHOST and $SDKTEST_GO_PACK (run by sdk/python's Go test)")
class HarnessTest(unittest.TestCase):
    def setUp(self):
        self.h = sdktest.Harness(self, GO_PACK, name="demo", state={"count": 1})

    def test_run_passed(self):
        name = 'tricky "${name}" %{x}\n\\'
        run = self.h.run("hello", {"name": name, "times": 2})
        run.assert_passed()
        step = run.assert_step("greet", "passed")
        self.assertEqual(step.data, {"greetings": 2, "name": name})
        self.assertEqual(run.find("1"), step)
        self.assertIn("greet", run.log)
        self.assertEqual(run.state, {"count": 1})

    def test_run_failed(self):
        run = self.h.run("checks", {"device": "r1"})
        run.assert_result("failed", "Gi0/2 is down")
        run.assert_step("Gi0/2 is up", "failed", "Gi0/2 is down")
        with self.assertRaises(AssertionError) as cm:
            run.assert_passed()
        self.assertIn("ended failed, want passed", str(cm.exception))
        self.assertIn("Gi0/2 is up: failed", str(cm.exception))
        with self.assertRaises(AssertionError):
            run.assert_step("no such step", "passed")

    def test_job(self):
        job = self.h.job([
            sdktest.Task("first", "hello", {"name": "a"}),
            sdktest.Task("broken", "crash"),
            sdktest.Task("after", "hello", {"name": "b"}, depends_on=["broken"]),
        ])
        self.assertEqual(job.code, 1, job.stderr)
        job.task("first").assert_passed()
        job.task("broken").assert_result("errored")
        job.task("after").assert_result("blocked", "dependency broken")
        self.assertEqual(job.summary["total"], 3)
        self.assertTrue(os.path.isfile(os.path.join(job.rundir, "junit.xml")))
        self.assertTrue(any(e["type"] == "task_started" for e in job.events))

    def test_validate(self):
        code, out = self.h.validate([sdktest.Task("t", "hello", {"name": 3, "times": "x"})])
        self.assertNotEqual(code, 0)
        self.assertIn("job.hcl:", out)

    def test_no_taskhost(self):
        old = os.environ.pop("TASKHOST")
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = "/nonexistent"
        try:
            with self.assertRaises(sdktest.SdktestError) as cm:
                sdktest.Harness(self, GO_PACK)
            self.assertIn("$TASKHOST", str(cm.exception))
        finally:
            os.environ["TASKHOST"] = old
            os.environ["PATH"] = path


if __name__ == "__main__":
    unittest.main()
