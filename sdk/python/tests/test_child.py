import json
import logging
import os
import sys
import tempfile
import unittest

from taskhost import _log, _mem, _t, _wire

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "testdata", "child.py")


class TestCommand(unittest.TestCase):
    def test_a_python_child_reports_under_the_step_that_started_it(self):
        with tempfile.TemporaryDirectory() as d:
            log_dir = os.path.join(d, "tasks", "t1")
            os.makedirs(log_dir)
            fake = os.path.join(d, "child-events.jsonl")
            hub = _wire.Hub(url="nats://127.0.0.1:4222", token="tok", events_subject="th.K.ev.t1",
                            inbox_prefix="_th.K.t1", msg_id_prefix="t1.", state_socket="/x/state.sock")
            lf = _log.LogFile.open(log_dir, "task.log")
            mem = _mem.Mem()
            run = _t.Run("t1", mem, log=lf, hub=hub, log_dir=log_dir)
            h = _t.attach_logging(run, lf, "t1")
            started = []

            def task(t):
                with t.step("start the child"):
                    p = t.command([sys.executable, CHILD], env=dict(os.environ, FAKE_EMIT=fake, TASKHOST_PACK_PLUGIN="x"))
                    started.append(p)
                    self.assertEqual(p.wait(), 1)  # its inner step failed
            try:
                r, _ = _t.run_task(run, task)
            finally:
                logging.getLogger().removeHandler(h)
                lf.close()
            p = started[0]
            pid = p.pid
            self.assertEqual(p.log_file, "tasks/t1/pid-%d.log" % pid)
            logev = [e for e in mem.events if e["kind"] == "log"]
            self.assertEqual([(e["parent"], e["name"], e["pid"]) for e in logev], [("1", p.log_file, pid)])
            with open(fake) as f:
                events = [json.loads(x) for x in f]
            root = "1/%d" % pid
            self.assertEqual([(e["kind"], e.get("id", ""), e.get("parent", ""), e.get("result", "")) for e in events], [
                ("start", root + ".1", "1", ""),
                ("start", root + ".1.1", root + ".1", ""),
                ("end", root + ".1.1", "", "failed"),
                ("end", root + ".1", "", "failed"),
                ("end", "", "", "failed"),
            ])
            self.assertEqual({e["src"] for e in events}, {"pid-%d" % pid})
            with open(os.path.join(log_dir, "pid-%d.log" % pid)) as f:
                clog = f.read()
            self.assertIn("[INFO]  t1: hello from the child: pid=%d step=%s.1\n" % (pid, root), clog)
            self.assertEqual(events[2]["logs"]["file"], "tasks/t1/pid-%d.log" % pid)
            with open(os.path.join(log_dir, "task.log")) as f:
                self.assertIn("started %s (pid %d): step=1 log=tasks/t1/pid-%d.log" % (sys.executable, pid, pid), f.read())

    def test_taskhost_child_is_the_go_sdks(self):
        hub = _wire.Hub(url="tls://h:1", token="tok", events_subject="s", inbox_prefix="i", msg_id_prefix="m.",
                        state_socket="/s.sock", tls_ca_pem="PEM")
        run = _t.Run("t1", _mem.Mem(), hub=hub, log_dir="/r/tasks/t1")
        from taskhost import _child
        self.assertEqual(_child.child_info(run, "2.1"),
                         '{"url":"tls://h:1","token":"tok","subject":"s","inbox_prefix":"i","msg_id_prefix":"m.",'
                         '"state_socket":"/s.sock","tls_ca_pem":"PEM","task_id":"t1","parent":"2.1","log_dir":"/r/tasks/t1"}')

    def test_by_hand_the_child_runs_on_its_own(self):
        import subprocess
        env = dict(os.environ)
        env.pop("TASKHOST_CHILD", None)
        p = subprocess.run([sys.executable, CHILD], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout.splitlines()[0], "child.py " + "." * 52 + " FAILED")
        self.assertIn("    1.1 inner", p.stdout)


if __name__ == "__main__":
    unittest.main()
