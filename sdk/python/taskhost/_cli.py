"""The command line of a pack started by hand, as the Go SDK's
(sdk/internal/packcli):

    PACK describe                       print the pack's description as JSON
    PACK run TASK [--json] [-q] [--events FILE] [--log FILE] [--arg k=v]...
"""

import json
import os
import sys


def go_json(obj):
    """obj as Go's encoding/json writes it with two-space indents (<, >
    and & escaped, UTF-8 as it is)."""
    s = json.dumps(obj, indent=2, ensure_ascii=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def prog_name():
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "pack"


def _usage(d, stderr):
    p = prog_name()
    stderr.write("%s %s: a taskhost task pack.\n\nUsage:\n  %s describe\n  %s run TASK [--json] [--arg key=value]...\n\nTasks:\n"
                 % (d["name"], d["version"], p, p))
    for t in d["tasks"]:
        stderr.write("  %-20s %s\n" % (t["name"], (t.get("doc") or "").split("\n", 1)[0]))
    stderr.write("\nA host runs this program as a plugin; see `taskhost run`.\n")


def main(pack, args, stdout, stderr):
    """Runs the command line args (without the program's name); returns
    the exit code: 0 a success, 1 a task that did not pass, 2 a bad
    command line."""
    d = pack.describe()
    if not args:
        _usage(d, stderr)
        return 2
    cmd = args[0]
    if cmd == "describe":
        stdout.write(go_json(d) + "\n")
        return 0
    if cmd == "run":
        return run(pack, d, args[1:], stdout, stderr)
    if cmd in ("-h", "-help", "--help", "help"):
        _usage(d, stderr)
        return 0
    stderr.write("unknown command %s\n\n" % json.dumps(cmd))
    _usage(d, stderr)
    return 2


def friendly(ty):
    """A cty type's friendly name, as go-cty's FriendlyName writes it."""
    if isinstance(ty, str):
        return ty
    if ty[0] in ("list", "map", "set"):
        return "%s of %s" % (ty[0], friendly(ty[1]))
    return ty[0]


def arg_from_text(a, text):
    """A --arg value typed by hand as JSON: a string argument takes the
    text as it is; any other is read as JSON (a dynamic one falls back to
    the text)."""
    ty = a["type"]
    if ty == "string":
        return json.dumps(text)
    try:
        json.loads(text)
    except ValueError:
        if ty == "dynamic":
            return json.dumps(text)
        raise ValueError("argument %s wants %s; %s is not JSON" % (json.dumps(a["name"]), friendly(ty), json.dumps(text)))
    return text


_FLAGS = {"arg": True, "json": False, "q": False, "events": True, "log": True}


def _parse(argv, stderr):
    """Go's flag package, for run's flags: -x or --x, -x=v or -x v."""
    opts = {"arg": [], "json": False, "q": False, "events": "", "log": ""}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        name = a.lstrip("-")
        val = None
        if "=" in name:
            name, val = name.split("=", 1)
        if name in ("h", "help"):
            stderr.write("Usage of run:\n  -arg value\n    \tan argument as key=value (repeatable); values of non-string arguments are JSON\n"
                         "  -events string\n    \talso write each result event to this file, as a JSON line\n"
                         "  -json\n    \tprint the result tree as JSON\n  -log string\n    \tlog to this file instead of stderr\n"
                         "  -q\tdo not print the result tree (the exit code still tells)\n")
            return None
        if name not in _FLAGS:
            stderr.write("flag provided but not defined: -%s\n" % name)
            return None
        if _FLAGS[name]:
            if val is None:
                if i + 1 >= len(argv):
                    stderr.write("flag needs an argument: -%s\n" % name)
                    return None
                i += 1
                val = argv[i]
            if name == "arg":
                opts["arg"].append(val)
            else:
                opts[name] = val
        else:
            if val is not None and val.lower() not in ("true", "false", "1", "0", "t", "f"):
                stderr.write('invalid boolean value "%s" for -%s: parse error\n' % (val, name))
                return None
            opts[name] = val is None or val.lower() in ("true", "1", "t")
        i += 1
    if i < len(argv):
        stderr.write("unexpected argument %s\n" % json.dumps(argv[i]))
        return None
    return opts


def run(pack, d, args, stdout, stderr):
    """`PACK run TASK ...`."""
    from . import _child, _log, _mem, _t
    if not args or args[0].startswith("-"):
        stderr.write("usage: run TASK [--json] [--arg key=value]...\n")
        return 2
    td = None
    for t in d["tasks"]:
        if t["name"] == args[0]:
            td = t
    if td is None:
        stderr.write("pack %s has no task %s (it has: %s)\n" % (d["name"], json.dumps(args[0]), ", ".join(t["name"] for t in d["tasks"])))
        return 2
    opts = _parse(args[1:], stderr)
    if opts is None:
        return 2
    obj = {}
    for kv in opts["arg"]:
        if "=" not in kv:
            stderr.write("--arg %s: want key=value\n" % json.dumps(kv))
            return 2
        k, v = kv.split("=", 1)
        spec = None
        for a in td["args"]:
            if a["name"] == k:
                spec = a
        if spec is None:
            stderr.write("task %s has no argument %s (it takes %s)\n" % (td["name"], json.dumps(k), ", ".join(a["name"] for a in td["args"]) or "no arguments"))
            return 2
        try:
            obj[k] = arg_from_text(spec, v)
        except ValueError as e:
            stderr.write("%s\n" % e)
            return 2
    args_json = ("{" + ",".join("%s:%s" % (json.dumps(k), v) for k, v in obj.items()) + "}").encode()
    fn = pack.callee(td["name"], args_json)

    try:
        child = _child.attach(td["name"], stderr)
    except RuntimeError as e:
        stderr.write("%s\n" % e)
        return 1
    if child is not None:
        # Started by a task with t.command: report as part of it.
        return _child.run_attached(child, fn, stderr)

    log_f = None
    sink = _log.StreamSink(stderr)
    if opts["log"]:
        try:
            log_f = open(opts["log"], "a")
        except OSError as e:
            stderr.write("%s\n" % e)
            return 2
        sink = _log.StreamSink(log_f)
    events_f = None
    if opts["events"]:
        try:
            events_f = open(opts["events"], "w")
        except OSError as e:
            stderr.write("%s\n" % e)
            return 2
    try:
        em = _mem.Mem(events_f)
        run_ = _t.Run(td["name"], em, outputs=_t.Outputs(pack.output_names(td["name"])))
        handler = _t.attach_logging(run_, sink, td["name"])
        with _stop_on_sigterm(run_):
            r, reason = fn(run_)
        import logging
        logging.getLogger().removeHandler(handler)
        em.flush()
    finally:
        if log_f is not None:
            log_f.close()
        if events_f is not None:
            events_f.close()
    if opts["q"]:
        pass
    elif opts["json"]:
        out = {"task": td["name"], "result": {"value": r.name}}
        if reason:
            out["result"]["reason"] = reason
        outs = run_.outputs.snapshot()
        if outs:
            out["outputs"] = {k: json.loads(v) for k, v in outs.items()}
        out["sections"] = [n.to_json() for n in em.sections] or None
        stdout.write(go_json(out) + "\n")
    else:
        _mem.write_text(stdout, td["name"], r, reason, em.sections)
    return 0 if r.success else 1


class _stop_on_sigterm:
    """SIGTERM while a task runs by hand stops it as Ctrl-C does."""

    def __init__(self, run):
        self.run = run
        self.old = None

    def __enter__(self):
        import signal
        import threading
        if threading.current_thread() is not threading.main_thread():
            return self

        def on_term(signum, frame):
            self.run.cause = "terminated"
            self.run.cancelled.set()
            if self.run.in_task:
                raise KeyboardInterrupt
        self.old = signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            import signal
            signal.signal(signal.SIGTERM, self.old)
        return False
