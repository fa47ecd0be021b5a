"""Pack: a task pack's name, version, tasks and hooks; what it says about
itself (describe), and how a call of one of its tasks or hooks runs."""

import os
import sys

from . import _schema

SDK_VERSION = "0.1.0"
PROTOCOL_VERSIONS = (1, 2)
COOKIE_KEY = "TASKHOST_PACK_PLUGIN"
COOKIE_VALUE = "3f0c9a1e6b7d4c2a"
STAGES = ("pre_job", "pre_task", "post_task", "post_job")


def started():
    """Whether a host started this process as a plugin."""
    return os.environ.get(COOKIE_KEY) == COOKIE_VALUE


class Output:
    """An output a task declares: a value it sets with t.set_output, that
    other tasks of the jobfile read as task.ID.output.NAME."""

    __slots__ = ("name", "doc")

    def __init__(self, name, doc=""):
        self.name = name
        self.doc = doc

    def __repr__(self):
        return "Output(%r, %r)" % (self.name, self.doc)


class Hook:
    """What a hook function gets beside t: the stage it runs at, the task
    it runs around ("" at the job stages) and the run's results so far (a
    dict, the JSON of the Go SDK's RunSummary)."""

    __slots__ = ("stage", "task", "results")

    def __init__(self, stage, task="", results=None):
        self.stage = stage
        self.task = task
        self.results = results if results is not None else {}


class _Def:
    __slots__ = ("name", "doc", "fn", "specs", "outputs", "stages", "func_name")

    def __init__(self, name, doc, fn, specs, outputs=(), stages=()):
        self.name = name
        self.doc = doc
        self.fn = fn
        self.specs = specs
        self.outputs = list(outputs)
        self.stages = list(stages)
        self.func_name = "%s.%s" % (getattr(fn, "__module__", "") or "", getattr(fn, "__qualname__", fn.__name__))


class CallError(Exception):
    """A call the pack cannot run: no such task, hook or stage."""


def _first_line(s):
    return (s or "").split("\n", 1)[0]


class Pack:
    """A task pack. Register tasks with @pack.task and hooks with
    @pack.hook, and call pack.run() from the script's main."""

    def __init__(self, name, version):
        self.name = name
        self.version = version
        self.tasks = []
        self.hooks = []

    def _task(self, name):
        for d in self.tasks:
            if d.name == name:
                return d
        return None

    def _hook(self, name):
        for d in self.hooks:
            if d.name == name:
                return d
        return None

    def task(self, name, doc="", outputs=()):
        """Registers the decorated function as the task name. Its first
        parameter is t (T); the others are its arguments, whose type hints
        are its schema. A name registered twice, or a hint the SDK cannot
        express, raises TypeError at once."""
        def register(fn):
            if self._task(name) is not None:
                raise TypeError("Pack.task: task %r registered twice" % name)
            where = "task %r" % name
            try:
                specs = _schema.arg_specs(fn, 1, where)
            except _schema.SchemaError as e:
                raise TypeError("Pack.task: %s" % e) from None
            outs = []
            for o in outputs:
                if isinstance(o, str):
                    o = Output(o)
                if not o.name or any(x.name == o.name for x in outs):
                    raise TypeError("Pack.task: task %r: output %r is empty or declared twice" % (name, o.name))
                outs.append(o)
            self.tasks.append(_Def(name, doc or (fn.__doc__ or "").strip(), fn, specs, outs))
            return fn
        return register

    def hook(self, name, doc="", stages=()):
        """Registers the decorated function as the hook name, run at
        stages ("pre_job", "pre_task", "post_task", "post_job"). It takes
        t, a Hook and its arguments."""
        def register(fn):
            if self._hook(name) is not None:
                raise TypeError("Pack.hook: hook %r registered twice" % name)
            if not stages:
                raise TypeError("Pack.hook: hook %r has no stages" % name)
            for st in stages:
                if st not in STAGES:
                    raise TypeError("Pack.hook: hook %r: unknown stage %r" % (name, st))
            try:
                specs = _schema.arg_specs(fn, 2, "hook %r" % name)
            except _schema.SchemaError as e:
                raise TypeError("Pack.hook: %s" % e) from None
            self.hooks.append(_Def(name, doc or (fn.__doc__ or "").strip(), fn, specs, stages=stages))
            return fn
        return register

    # What the pack says about itself.

    def describe(self):
        """The description as `PACK describe` prints it (the Go SDK's JSON)."""
        d = {"name": self.name, "version": self.version, "protocol_versions": list(PROTOCOL_VERSIONS),
             "sdk_version": SDK_VERSION, "tasks": []}
        for td in self.tasks:
            ti = {"name": td.name}
            if td.doc:
                ti["doc"] = td.doc
            ti["args"] = [_arg_json(a) for a in td.specs]
            if td.outputs:
                ti["outputs"] = [_output_json(o) for o in td.outputs]
            d["tasks"].append(ti)
        if self.hooks:
            d["hooks"] = []
            for hd in self.hooks:
                hi = {"name": hd.name}
                if hd.doc:
                    hi["doc"] = hd.doc
                hi["stages"] = list(hd.stages)
                hi["args"] = [_arg_json(a) for a in hd.specs]
                d["hooks"].append(hi)
        return d

    def describe_wire(self):
        """The description as the Describe call answers it."""
        import json
        from . import _wire as W

        def args(specs):
            return [W.ArgSpec(name=a.name, type_json=json.dumps(a.codec.ty, separators=(",", ":")).encode(),
                              doc=a.doc, required=a.required, default_json=a.default_json()) for a in specs]
        return W.DescribeResponse(
            name=self.name, version=self.version, protocol_versions=list(PROTOCOL_VERSIONS),
            sdk_version=SDK_VERSION,
            tasks=[W.TaskSpec(name=td.name, doc=td.doc, args=args(td.specs), func_name=td.func_name,
                              outputs=[W.OutputSpec(name=o.name, doc=o.doc) for o in td.outputs])
                   for td in self.tasks],
            hooks=[W.HookSpec(name=hd.name, doc=hd.doc, args=args(hd.specs), stages=list(hd.stages))
                   for hd in self.hooks])

    def output_names(self, task):
        td = self._task(task)
        return [o.name for o in td.outputs] if td else []

    # Calls.

    def callee(self, task="", args_json=b"", hook=None):
        """What a call runs: a function of a _t.Run that returns (result,
        reason). hook is a _wire.HookCall (or None for a task). CallError
        names what the pack lacks."""
        from . import _t
        if hook is None:
            td = self._task(task)
            if td is None:
                raise CallError("pack %s has no task %r" % (self.name, task))

            def body(t):
                try:
                    kw = _schema.decode_args(td.specs, args_json)
                except _schema.ArgError as e:
                    t.errored("bad arguments: %s" % e)
                td.fn(t, **kw)
            return lambda run: _t.run_task(run, body)
        hd = self._hook(hook.name)
        if hd is None:
            raise CallError("pack %s has no hook %r" % (self.name, hook.name))
        if hook.stage not in hd.stages:
            raise CallError("hook %r of pack %s does not run at stage %r" % (hd.name, self.name, hook.stage))
        h = Hook(hook.stage, hook.task_id)

        def hbody(t):
            if hook.results_json:
                import json
                try:
                    h.results = json.loads(hook.results_json)
                except ValueError as e:
                    t.errored("bad results from the host: %s" % e)
            try:
                kw = _schema.decode_args(hd.specs, args_json)
            except _schema.ArgError as e:
                t.errored("bad arguments: %s" % e)
            hd.fn(t, h, **kw)
        return lambda run: _t.run_task(run, hbody)

    def run(self):
        """The pack's main: started by a host, it serves the pack;
        started by hand, it is the command line (`describe`, `run TASK
        --arg k=v`). It does not return."""
        if started():
            from . import _serve
            _serve.serve(self)
            sys.exit(0)
        from . import _cli
        sys.exit(_cli.main(self, sys.argv[1:], sys.stdout, sys.stderr))


def _arg_json(a):
    out = {"name": a.name, "type": a.codec.ty}
    if a.doc:
        out["doc"] = a.doc
    if a.required:
        out["required"] = True
    return out


def _output_json(o):
    out = {"name": o.name}
    if o.doc:
        out["doc"] = o.doc
    return out
