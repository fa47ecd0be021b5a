import dataclasses
import json
import typing
import unittest
from typing import Annotated, Any, Optional

from taskhost import Pack, T
from taskhost import _schema


@dataclasses.dataclass
class Port:
    name: str
    speed: int = 1000
    tags: Optional[list[str]] = None


@dataclasses.dataclass
class Loop:
    next: "Optional[Loop]" = None


def types_of(pack, task):
    return {a["name"]: (a["type"], a.get("required", False)) for a in
            [t for t in pack.describe()["tasks"] if t["name"] == task][0]["args"]}


class TestSchema(unittest.TestCase):
    def test_types(self):
        p = Pack("p", "1.0.0")

        @p.task("all")
        def all_(t: T, s: str, n: int, f: float, b: bool, l: list[int], m: dict[str, str],
                 port: Port, ports: list[Port] = (), anything: Any = None, untyped=None,
                 maybe: Optional[int] = None, union: int | None = None,
                 nested: list[dict[str, list[float]]] = (), tl: typing.List[str] = (),
                 doc: Annotated[str, "documented"] = "x", tup: tuple[int, ...] = (), st: set[str] = frozenset()):
            pass

        port = ["object", {"name": "string", "speed": "number", "tags": ["list", "string"]}, ["speed", "tags"]]
        self.assertEqual(types_of(p, "all"), {
            "s": ("string", True), "n": ("number", True), "f": ("number", True), "b": ("bool", True),
            "l": (["list", "number"], True), "m": (["map", "string"], True),
            "port": (port, True), "ports": (["list", port], False),
            "anything": ("dynamic", False), "untyped": ("dynamic", False),
            "maybe": ("number", False), "union": ("number", False),
            "nested": (["list", ["map", ["list", "number"]]], False), "tl": (["list", "string"], False),
            "doc": ("string", False), "tup": (["list", "number"], False), "st": (["set", "string"], False),
        })
        doc = [a for a in p.describe()["tasks"][0]["args"] if a["name"] == "doc"][0]
        self.assertEqual(doc["doc"], "documented")

    def test_wire_has_defaults_and_func_name(self):
        p = Pack("p", "1.0.0")

        @p.task("ping", doc="Pings.")
        def ping(t: T, host: str, count: int = 3, tags: list[str] = ("a",)):
            pass

        w = p.describe_wire()
        ts = w.tasks[0]
        self.assertEqual(ts.func_name, __name__ + ".TestSchema.test_wire_has_defaults_and_func_name.<locals>.ping")
        self.assertEqual([(a.name, json.loads(a.type_json), a.required, a.default_json) for a in ts.args],
                         [("host", "string", True, b""), ("count", "number", False, b"3"),
                          ("tags", ["list", "string"], False, b'["a"]')])
        self.assertEqual(list(w.protocol_versions), [1, 2])

    def test_bad_hints_refused_at_registration(self):
        cases = {
            "set of int": (lambda t, x: None, {"x": set}),
            "dict with int keys": (lambda t, x: None, {"x": dict[int, str]}),
            "union": (lambda t, x: None, {"x": typing.Union[int, str]}),
            "a class": (lambda t, x: None, {"x": object.__class__}),
            "recursive dataclass": (lambda t, x: None, {"x": Loop}),
            "tuple of two": (lambda t, x: None, {"x": tuple[int, str]}),
        }
        for name, (fn, hints) in cases.items():
            with self.subTest(name):
                fn.__annotations__ = hints
                p = Pack("p", "1.0.0")
                with self.assertRaises(TypeError) as cm:
                    p.task("bad")(fn)
                self.assertIn("task 'bad'", str(cm.exception))
                self.assertIn('argument "x"', str(cm.exception))

    def test_a_function_that_forgot_t_refused(self):
        def forgot(host: str, count: int = 3):
            pass

        p = Pack("p", "1.0.0")
        with self.assertRaises(TypeError) as cm:
            p.task("ping")(forgot)
        self.assertEqual(str(cm.exception), "Pack.task: task 'ping': the function must take t first; "
                         'its parameter "host" is hinted str, not T')
        # t hinted T, or as text (from __future__ import annotations), or not at all.
        for hint in (T, "T", "taskhost.T", None):
            def fn(t, host: str):
                pass
            if hint is not None:
                fn.__annotations__["t"] = hint
            p.task("ok %s" % hint)(fn)

    def test_varargs_refused(self):
        p = Pack("p", "1.0.0")
        with self.assertRaisesRegex(TypeError, "args or \\*\\*kwargs"):
            p.task("v")(lambda t, *a: None)

    def test_twice_refused(self):
        p = Pack("p", "1.0.0")
        p.task("a")(lambda t: None)
        with self.assertRaisesRegex(TypeError, "registered twice"):
            p.task("a")(lambda t: None)


def specs(fn):
    return _schema.arg_specs(fn, 1, "task 'x'")


class TestDecode(unittest.TestCase):
    def test_values(self):
        def f(t, s: str, n: int, fl: float, b: bool, port: Port, ports: list[Port] = (),
              maybe: Optional[int] = None, opt_no_default: Optional[str] = None, m: dict[str, int] = None):
            pass
        # go-cty's JSON: optional object attributes are present, null.
        kw = _schema.decode_args(specs(f), json.dumps({
            "s": "x", "n": 3.0, "fl": 2, "b": True,
            "port": {"name": "Gi0/1", "speed": None, "tags": ["a"]},
            "ports": [{"name": "p1", "speed": 10, "tags": None}], "maybe": None, "m": {"a": 1}}).encode())
        self.assertEqual(kw, {"s": "x", "n": 3, "fl": 2.0, "b": True, "port": Port("Gi0/1", 1000, ["a"]),
                              "ports": [Port("p1", 10, None)], "m": {"a": 1}})
        self.assertIs(type(kw["n"]), int)
        self.assertIs(type(kw["fl"]), float)

    def test_optional_without_default_gets_none(self):
        def f(t, maybe: Optional[int]):
            pass
        self.assertEqual(_schema.decode_args(specs(f), b"{}"), {"maybe": None})
        self.assertEqual(_schema.decode_args(specs(f), b""), {"maybe": None})

    def test_errors(self):
        def f(t, n: int, port: Port = None, l: list[int] = ()):
            pass
        cases = {
            b'{"n": 1.5}': 'argument "n": want a whole number, not 1.5',
            b'{"n": "1"}': 'argument "n": want a whole number, not a string',
            b'{"n": true}': 'argument "n": want a whole number, not a bool',
            b'{}': 'missing required argument "n"',
            b'{"n": null}': 'missing required argument "n"',
            b'{"n": 1, "x": 2}': 'unknown argument "x" (this task takes n, port, l)',
            b'{"n": 1, "port": {"speed": 1}}': 'missing required argument "port.name"',
            b'{"n": 1, "port": {"name": "a", "mtu": 1}}': 'unknown argument "port.mtu"',
            b'{"n": 1, "l": [1, "2"]}': 'argument "l[1]": want a whole number, not a string',
            b'[1]': "arguments are not a JSON object",
            b'{': "arguments are not a JSON object",
        }
        for raw, want in cases.items():
            with self.subTest(raw):
                with self.assertRaises(_schema.ArgError) as cm:
                    _schema.decode_args(specs(f), raw)
                self.assertIn(want, str(cm.exception))


if __name__ == "__main__":
    unittest.main()
