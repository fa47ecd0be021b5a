"""Build a pack into one executable file: a zipapp of the pack and the SDK.

`python3 -m taskhost build DIR` writes DIR.pyz (or -o OUT): a zip
archive behind a `#!/usr/bin/env python3` line, holding

- the SDK (this package's modules, but the build's and sdktest),
- the pack's modules: every *.py under DIR but its tests (test_*.py,
  *_test.py, conftest.py, tests/ and test/ directories), hidden
  directories, __pycache__ and a vendored taskhost/ (the SDK comes from
  the one running the build),
- each module compiled too (a .pyc beside the .py, checked by no
  timestamp), since a zip cannot hold the cache Python writes for
  imported files: without it every start would compile the SDK again.
  An interpreter of another version ignores these and compiles the
  sources,
- the pack's pack.py as the zip's __main__.py (a pack with a
  __main__.py of its own keeps it), compiled with an import of taskhost
  before its first statement: in a pack started by taskhost, that import
  sends print() to stderr, away from the handshake on fd 1.

The bytes depend only on the files' contents and the interpreter's
version: entries are sorted, with a fixed time and mode, and the modules
compiled with a fixed hash seed, so that a rebuild gives the same
SHA-256, which `taskhost packs lock` pins.
"""

import importlib.util
import io
import marshal
import os
import stat
import sys
import zipfile

# The zip's time for every entry: the earliest a zip can hold.
_EPOCH = (1980, 1, 1, 0, 0, 0)

# Run first in the pack's main module (numbered as the line of its first
# statement, so that the pack's lines keep their numbers): in a pack
# started by taskhost, the import of taskhost sends print() to stderr,
# away from fd 1 where the handshake goes, also for what the module
# prints before its own imports.
_FIRST = "try:\n    __import__('taskhost')\nexcept ImportError:\n    pass\n"

DEFAULT_PYTHON = "/usr/bin/env python3"


class BuildError(Exception):
    """A pack directory that cannot be built; the message says why."""


def _is_test(name):
    return name.startswith("test_") and name.endswith(".py") or name.endswith("_test.py") or name == "conftest.py"


def _skip_dir(name):
    return name.startswith(".") or name in ("__pycache__", "tests", "test", "taskhost")


def pack_files(src):
    """The pack's modules under src: {archive name: path}, sorted."""
    files = {}
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not _skip_dir(d))
        for name in sorted(names):
            if not name.endswith(".py") or _is_test(name):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            files[rel] = path
    return files


# The SDK's modules a pack does not run: the build and the test harness.
_BUILD_ONLY = ("__main__.py", "_build.py", "sdktest.py")


def sdk_files():
    """The SDK's modules a pack runs: {archive name: path}, from the
    package running."""
    here = os.path.dirname(os.path.abspath(__file__))
    files = {}
    for name in sorted(os.listdir(here)):
        if name.endswith(".py") and name not in _BUILD_ONLY:
            files["taskhost/" + name] = os.path.join(here, name)
    return files


def _main_tree(source, name):
    """The pack's main module with _FIRST put before its first statement
    (after its docstring and __future__ imports)."""
    import ast

    tree = ast.parse(source, name)
    body, i = tree.body, 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        i = 1
    while i < len(body) and isinstance(body[i], ast.ImportFrom) and body[i].module == "__future__":
        i += 1
    first = ast.parse(_FIRST).body
    line = body[i].lineno if i < len(body) else 1
    for stmt in first:
        for node in ast.walk(stmt):
            if "lineno" in node._attributes:
                node.lineno = node.end_lineno = line
                node.col_offset = node.end_col_offset = 0
    body[i:i] = first
    return tree


def _pyc(source, name, main=False):
    """source compiled as an unchecked hash-based .pyc (no timestamp),
    with name as its file name in tracebacks; main: the pack's main
    module, with _FIRST put in."""
    code = compile(_main_tree(source, name) if main else source, name, "exec", dont_inherit=True, optimize=0)
    flags = 0b01  # hash-based, source not checked
    return (importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little")
            + importlib.util.source_hash(source) + marshal.dumps(code))


def _entry(name, mode=0o644):
    info = zipfile.ZipInfo(name, _EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.create_system = 3  # Unix, whatever the OS building
    return info


def build(src, out=None, python=DEFAULT_PYTHON, compiled=True):
    """Build the pack in directory src into the zipapp out (default:
    src + ".pyz"); returns out's path."""
    src = os.path.abspath(src)
    if not os.path.isdir(src):
        raise BuildError(f"{src}: not a directory")
    files = pack_files(src)
    if "__main__.py" not in files and "pack.py" not in files:
        raise BuildError(f"{src} has neither pack.py nor __main__.py: the pack's main module is pack.py")
    for rel in files:
        if rel == "taskhost.py":
            raise BuildError(f"{src}/taskhost.py would hide the SDK (the package taskhost): rename it")
    if out is None:
        out = src + ".pyz"
    if os.path.isdir(out):
        raise BuildError(f"{out} is a directory: give the file to write with -o")
    out = os.path.abspath(out)
    entries = dict(sdk_files())
    for rel, path in files.items():
        if os.path.abspath(path) == out:
            continue
        entries[rel] = path
    contents = {}
    for rel, path in entries.items():
        with open(path, "rb") as f:
            contents[rel] = f.read()
    # The main module is the zip's __main__: Python runs it as __main__
    # with sys.argv[0] the zipapp, and tracebacks show its lines (the
    # zip's loader gives __main__'s source).
    main = "__main__.py"
    if "__main__.py" not in contents:
        main = "pack.py"
        contents["__main__.py"] = contents.pop("pack.py")
    if compiled:
        for rel in [r for r in contents if r.endswith(".py")]:
            name = main if rel == "__main__.py" else rel
            try:
                contents[rel + "c"] = _pyc(contents[rel], name, main=rel == "__main__.py")
            except SyntaxError as e:
                raise BuildError(f"{src}/{name}:{e.lineno}: {e.msg}") from None

    buf = io.BytesIO()
    buf.write(b"#!" + python.encode() + b"\n")
    with zipfile.ZipFile(buf, "w") as z:
        for rel in sorted(contents):
            z.writestr(_entry(rel), contents[rel], compresslevel=9)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf.getvalue())
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return out


def main(argv):
    # The order of a set's items in compiled code follows the hash seed
    # on some versions (3.9): compile with a fixed one.
    if os.environ.get("PYTHONHASHSEED") != "0":
        import subprocess

        env = dict(os.environ, PYTHONHASHSEED="0")
        return subprocess.call([sys.executable, "-m", "taskhost", "build", *argv], env=env)
    import argparse

    p = argparse.ArgumentParser(
        prog="python3 -m taskhost build",
        description="Build the pack in DIR into one executable file (a zipapp of the pack and the SDK) "
        "that taskhost packs install, lock and run as any pack binary.")
    p.add_argument("dir", metavar="DIR", help="the pack's directory (its main module is pack.py)")
    p.add_argument("-o", "--output", metavar="OUT", help="the file to write (default: DIR.pyz)")
    p.add_argument("--python", metavar="INTERPRETER", default=DEFAULT_PYTHON,
                   help=f"the interpreter of the #! line (default: {DEFAULT_PYTHON})")
    p.add_argument("--no-compile", action="store_true",
                   help="leave the modules uncompiled (smaller; each start compiles them)")
    a = p.parse_args(argv)
    try:
        out = build(a.dir, a.output, a.python, compiled=not a.no_compile)
    except (BuildError, OSError) as e:
        print(f"taskhost build: {e}", file=sys.stderr)
        return 1
    print(f"Built {a.output or out}")
    return 0
