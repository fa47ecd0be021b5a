import json
import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(HERE)
DEMO = os.path.join(HERE, "testdata", "demo.py")
NET = os.path.join(SDK, "examples", "net", "pack.py")


def run(script, *args, env=None):
    e = dict(os.environ, PYTHONPATH=SDK)
    e.pop("TASKHOST_PACK_PLUGIN", None)
    e.pop("TASKHOST_CHILD", None)
    e.update(env or {})
    p = subprocess.run(["/usr/bin/python3", script] + list(args), capture_output=True, text=True, env=e, timeout=60)
    return p.returncode, p.stdout, p.stderr


class TestDescribe(unittest.TestCase):
    def test_describe_is_the_go_packs_json(self):
        code, out, err = run(DEMO, "describe")
        self.assertEqual(code, 0, err)
        d = json.loads(out)
        self.assertEqual(list(d), ["name", "version", "protocol_versions", "sdk_version", "tasks", "hooks"])
        self.assertEqual((d["name"], d["version"], d["protocol_versions"], d["sdk_version"]),
                         ("demo", "0.1.0", [1, 2], "0.1.0"))
        hello = d["tasks"][0]
        # As `demo describe` of the Go demo pack prints it.
        self.assertEqual(hello, {"name": "hello", "doc": "Greets someone and passes.", "args": [
            {"name": "name", "type": "string", "doc": "who to greet", "required": True},
            {"name": "times", "type": "number", "doc": "how many greetings (default 1)"}]})
        self.assertIn('  "tasks": [\n    {\n      "name": "hello",\n', out)
        lookup = [t for t in d["tasks"] if t["name"] == "lookup"][0]
        self.assertEqual([o["name"] for o in lookup["outputs"]], ["addr", "name"])
        self.assertEqual(d["hooks"], [{"name": "notify", "doc": "Says where it runs.", "stages": ["post_task", "post_job"],
                                       "args": [{"name": "url", "type": "string"}]}])
        crash = [t for t in d["tasks"] if t["name"] == "crash"][0]
        self.assertEqual(crash["args"], [])

    def test_usage(self):
        code, out, err = run(DEMO)
        self.assertEqual(code, 2)
        self.assertIn("demo 0.1.0: a taskhost task pack.", err)
        self.assertIn("  hello                Greets someone and passes.\n", err)
        self.assertEqual(run(DEMO, "help")[0], 0)
        code, _, err = run(DEMO, "frobnicate")
        self.assertEqual(code, 2)
        self.assertIn('unknown command "frobnicate"', err)


class TestRun(unittest.TestCase):
    def test_checks_tree_as_the_go_demo_prints_it(self):
        code, out, err = run(DEMO, "run", "checks", "--arg", "device=r1")
        self.assertEqual(code, 1, err)
        self.assertEqual(out, """\
checks ...................................................... FAILED
  1 setup ................................................... PASSED
    1.1 connect ............................................. PASSED
  2 interfaces .............................................. FAILED
    2.1 Gi0/1 is up ......................................... PASSED
    2.2 Gi0/2 is up ......................................... FAILED  (Gi0/2 is down (expected up))
    2.3 Gi0/3 counters ...................................... PASSX
      2.3.1 input errors .................................... PASSED
      2.3.2 CRC errors ...................................... PASSX  (3 CRC errors, under the limit of 10)
  3 routing ................................................. BLOCKED
    3.1 OSPF neighbours ..................................... SKIPPED  (OSPF is not configured on this device)
    3.2 BGP sessions ........................................ BLOCKED  (needs the BGP feature set)
  4 cleanup ................................................. PASSED
    4.1 disconnect .......................................... PASSED
""")
        self.assertIn("[INFO]  checks: connecting to r1: step=1.1\n", err)
        self.assertIn("[INFO]  checks: STEP 2.2: Gi0/2 is up => Failed: step=2.2\n", err)

    def test_exit_codes(self):
        cases = {
            "passes": (["run", "hello", "--arg", "name=x"], 0),
            "fails": (["run", "checks"], 1),
            "raises": (["run", "crash"], 1),
            "bad args at run time": (["run", "hello"], 1),
            "no such task": (["run", "nope"], 2),
            "no such argument": (["run", "hello", "--arg", "nope=1"], 2),
            "not JSON": (["run", "hello", "--arg", "name=x", "--arg", "times=x"], 2),
            "not key=value": (["run", "hello", "--arg", "name"], 2),
            "unknown flag": (["run", "hello", "--frob"], 2),
            "no task": (["run"], 2),
            "quiet": (["run", "hello", "--arg", "name=x", "-q"], 0),
            "sys.exit(3)": (["run", "exit"], 3),
        }
        for name, (args, want) in cases.items():
            with self.subTest(name):
                code, out, err = run(DEMO, *args)
                self.assertEqual(code, want, out + err)

    def test_messages(self):
        _, _, err = run(DEMO, "run", "hello", "--arg", "times=x")
        self.assertEqual(err, 'argument "times" wants number; "x" is not JSON\n')
        _, _, err = run(DEMO, "run", "hello", "--arg", "nope=1")
        self.assertEqual(err, 'task hello has no argument "nope" (it takes name, times)\n')
        _, _, err = run(DEMO, "run", "nope")
        self.assertEqual(err, 'pack demo has no task "nope" (it has: hello, checks, wait, crash, lookup, kinds, exit, secret, ask, children)\n')
        code, out, _ = run(DEMO, "run", "hello")
        self.assertEqual(out, 'hello ....................................................... ERRORED  (bad arguments: missing required argument "name")\n')
        _, out, _ = run(DEMO, "run", "crash")
        self.assertIn("(KeyError: 'boom')", out)
        self.assertNotIn("never", out)

    def test_json_outputs_and_args(self):
        code, out, err = run(DEMO, "run", "lookup", "--arg", "name=r1", "--json")
        self.assertEqual(code, 0, err)
        d = json.loads(out)
        self.assertEqual(d["outputs"], {"addr": "192.0.2.91", "name": "r1"})
        self.assertEqual(d["result"], {"value": "passed"})
        self.assertEqual(d["sections"][0]["id"], "1")
        code, out, err = run(DEMO, "run", "kinds", "--json", "--arg", "s=a b", "--arg", "n=2", "--arg", "f=1.5",
                             "--arg", "b=true", "--arg", "l=[1,2]", "--arg", 'm={"k":"v"}',
                             "--arg", 'port={"name":"Gi0/1"}', "--arg", 'ports=[{"name":"p","speed":10}]',
                             "--arg", "anything=not json")
        self.assertEqual(code, 0, err)
        # Task-level data is not in the tree: read it from --events.
        with tempfile.TemporaryDirectory() as d:
            ev = os.path.join(d, "events.jsonl")
            lg = os.path.join(d, "task.log")
            code, out, err = run(DEMO, "run", "kinds", "--events", ev, "--log", lg, "--arg", "s=x", "--arg", "n=1",
                                 "--arg", "f=1", "--arg", "b=false", "--arg", "l=[]", "--arg", "m={}",
                                 "--arg", 'port={"name":"a","tags":["t"]}', "--arg", "logged=true")
            self.assertEqual(code, 0, err)
            with open(ev) as f:
                events = [json.loads(x) for x in f]
            self.assertEqual(events[-1]["kind"], "end")
            self.assertEqual(events[-1]["data"], {
                "s": "x", "n": 1, "f": 1.0, "b": False, "l": [], "m": {},
                "port": {"name": "a", "speed": 1000, "tags": ["t"]}, "ports": [], "anything": None, "maybe": None})
            with open(lg) as f:
                log = f.read()
            self.assertIn("[WARN]  kinds.lib: a library logs through the root logger\n", log)
            self.assertIn("[INFO]  kinds: task kinds => Passed", log)
            self.assertEqual(err, "a print to stderr\n")

    def test_the_net_example(self):
        code, out, err = run(NET, "run", "ping", "--arg", "host=localhost", "--arg", "count=1")
        self.assertIn(code, (0, 1), err)
        self.assertTrue(out.startswith("ping ....."), out)
        self.assertIn("  1 resolve localhost ....", out)
        self.assertIn("  2 ping ....", out)
        code, out, err = run(NET, "describe")
        self.assertEqual(json.loads(out)["tasks"][0]["outputs"], [{"name": "rtt", "doc": "the average round trip, in ms"}])


if __name__ == "__main__":
    unittest.main()
