"""python3 -m taskhost build: one executable zipapp, the same bytes each time."""

import hashlib
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

SDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(*args, seed="0"):
    """Runs python3 -m taskhost build in a process of its own (its own hash seed)."""
    env = dict(os.environ, PYTHONPATH=SDK, PYTHONHASHSEED=seed)
    return subprocess.run([sys.executable, "-m", "taskhost", "build", *args],
                          env=env, capture_output=True, text=True)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class BuildTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.pack = os.path.join(self.tmp.name, "mypack")
        files = {
            "pack.py": "import sys, helpers\nprint('main', __name__, helpers.KINDS, sys.argv[1:])\n",
            # a set constant: its order in the compiled code must not follow the hash seed
            "helpers.py": "KINDS = sorted({'alpha', 'beta', 'gamma', 'delta', 'epsilon'})\n",
            "lib/__init__.py": "",
            "lib/util.py": "X = 1\n",
            "test_pack.py": "raise SystemExit('a test was packed')\n",
            "util_test.py": "raise SystemExit('a test was packed')\n",
            "conftest.py": "",
            "tests/test_more.py": "",
            "__pycache__/pack.cpython-311.pyc": "junk",
            ".git/config": "",
            "taskhost/__init__.py": "raise SystemExit('the vendored SDK was packed')\n",
            "README.md": "not a module",
        }
        for rel, text in files.items():
            path = os.path.join(self.pack, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)

    def test_same_bytes_each_build(self):
        a, b = os.path.join(self.tmp.name, "a"), os.path.join(self.tmp.name, "b")
        for out, seed in ((a, "1"), (b, "2")):
            r = build(self.pack, "-o", out, seed=seed)
            self.assertEqual(r.returncode, 0, r.stderr)
        # a file touched later, with the same contents, changes nothing
        os.utime(os.path.join(self.pack, "pack.py"), (1e9, 1e9))
        c = os.path.join(self.tmp.name, "c")
        self.assertEqual(build(self.pack, "-o", c, seed="3").returncode, 0)
        self.assertEqual(sha256(a), sha256(b))
        self.assertEqual(sha256(a), sha256(c))
        # and a change of a module changes it
        with open(os.path.join(self.pack, "helpers.py"), "a") as f:
            f.write("Y = 2\n")
        self.assertEqual(build(self.pack, "-o", c).returncode, 0)
        self.assertNotEqual(sha256(a), sha256(c))

    def test_entries(self):
        out = os.path.join(self.tmp.name, "bin", "out")  # bin/ made
        r = build(self.pack, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with zipfile.ZipFile(out) as z:
            names = z.namelist()
            infos = z.infolist()
        self.assertEqual(names, sorted(names))
        mods = [n for n in names if not n.startswith("taskhost/")]
        self.assertEqual(mods, ["__main__.py", "__main__.pyc", "helpers.py", "helpers.pyc",
                                "lib/__init__.py", "lib/__init__.pyc", "lib/util.py", "lib/util.pyc"])
        with zipfile.ZipFile(out) as z, open(os.path.join(self.pack, "pack.py"), "rb") as f:
            self.assertEqual(z.read("__main__.py"), f.read())
        sdk = sorted(n[len("taskhost/"):] for n in names if n.startswith("taskhost/") and n.endswith(".py"))
        want = sorted(n for n in os.listdir(os.path.join(SDK, "taskhost"))
                      if n.endswith(".py") and n not in ("__main__.py", "_build.py", "sdktest.py"))
        self.assertIn("_wire.py", want)
        self.assertEqual(sdk, want)
        for info in infos:
            self.assertEqual(info.date_time, (1980, 1, 1, 0, 0, 0), info.filename)
        with open(out, "rb") as f:
            self.assertEqual(f.readline(), b"#!/usr/bin/env python3\n")
        self.assertTrue(os.stat(out).st_mode & 0o111, "not executable")

    def test_runs_pack_py_as_main(self):
        out = os.path.join(self.tmp.name, "out")
        self.assertEqual(build(self.pack, "-o", out, "--python", sys.executable).returncode, 0)
        with open(out, "rb") as f:
            self.assertEqual(f.readline(), b"#!" + sys.executable.encode() + b"\n")
        r = subprocess.run([out, "describe"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "main __main__ ['alpha', 'beta', 'delta', 'epsilon', 'gamma'] ['describe']\n")

    def test_main_module(self):
        # sys.argv[0] is the zipapp, the first statement runs after the
        # docstring and __future__ imports, and a traceback (of the
        # traceback module, as the SDK logs them) shows pack.py's lines
        # with their numbers.
        with open(os.path.join(self.pack, "pack.py"), "w") as f:
            f.write('"""Doc."""\nfrom __future__ import annotations\nimport sys\n'
                    'print(__doc__, sys.argv[0], "taskhost" in sys.modules)\n\n\n'
                    'def f(x: NotDefined):\n    raise ValueError("on purpose")\n\n\ntry:\n    f(1)\n'
                    'except ValueError:\n    import traceback\n    traceback.print_exc()\n')
        out = os.path.join(self.tmp.name, "out")
        self.assertEqual(build(self.pack, "-o", out, "--python", sys.executable).returncode, 0)
        r = subprocess.run([out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        # taskhost was imported first (when the SDK is whole: it is a package)
        whole = os.path.exists(os.path.join(SDK, "taskhost", "__init__.py"))
        self.assertEqual(r.stdout, f"Doc. {out} {whole}\n")
        self.assertIn('File "pack.py", line 8, in f\n    raise ValueError("on purpose")', r.stderr)
        self.assertIn('File "pack.py", line 12, in <module>\n    f(1)', r.stderr)

    def test_compiled_modules_are_used(self):
        # The .pyc of a module is what runs: replace the .py's text in a
        # copy of the archive and the compiled code still runs.
        out = os.path.join(self.tmp.name, "out")
        self.assertEqual(build(self.pack, "-o", out, "--python", sys.executable).returncode, 0)
        patched = os.path.join(self.tmp.name, "patched")
        with zipfile.ZipFile(out) as src, open(patched, "wb") as f:
            f.write(b"#!" + sys.executable.encode() + b"\n")
            with zipfile.ZipFile(f, "w") as dst:
                for info in src.infolist():
                    data = src.read(info)
                    if info.filename == "helpers.py":
                        data = b"KINDS = 'from the source'\n"
                    dst.writestr(info, data)
        os.chmod(patched, 0o755)
        r = subprocess.run([patched], capture_output=True, text=True)
        self.assertIn("['alpha', 'beta'", r.stdout, r.stderr)

    def test_default_output_is_dir_pyz(self):
        r = build(self.pack)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mypack.pyz", r.stdout)
        self.assertTrue(zipfile.is_zipfile(os.path.join(self.tmp.name, "mypack.pyz")))

    def test_refusals(self):
        os.remove(os.path.join(self.pack, "pack.py"))
        r = build(self.pack, "-o", os.path.join(self.tmp.name, "out"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("neither pack.py nor __main__.py", r.stderr)
        with open(os.path.join(self.pack, "pack.py"), "w") as f:
            f.write("def broken(:\n")
        r = build(self.pack, "-o", os.path.join(self.tmp.name, "out"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("pack.py:1:", r.stderr)


if __name__ == "__main__":
    unittest.main()
