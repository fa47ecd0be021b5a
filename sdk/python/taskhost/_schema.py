"""A task's argument schema from its function's type hints, and the
decoding of the host's arguments (go-cty's JSON) into Python values.

    str -> "string"; int, float -> "number" (an int must be whole);
    bool -> "bool"; list[X], tuple[X, ...] -> ["list", X]; set[X] -> ["set", X];
    dict[str, X] -> ["map", X];
    a dataclass -> ["object", {...}, [optional...]];
    Optional[X] (X | None) or a default -> not required;
    typing.Any, or no hint -> "dynamic" (any value, as JSON decodes it);
    typing.Annotated[X, "doc"] -> X, documented.
"""

import sys


class SchemaError(Exception):
    """A type hint the SDK cannot express as an argument's type."""


class ArgError(Exception):
    """Arguments that do not fit the schema."""


_MISSING = object()
_UnionType = type(int | None)  # types.UnionType, without importing types


def _typing(name):
    mod = sys.modules.get("typing")
    return getattr(mod, name, _MISSING) if mod is not None else _MISSING


def _eval(hint, globalns):
    if isinstance(hint, str):
        try:
            return eval(hint, dict(globalns or {}))  # noqa: S307 (the pack's own annotation)
        except Exception as e:
            raise SchemaError("type hint %r cannot be read: %s" % (hint, e)) from None
    return hint


def _is_none(tp):
    return tp is None or tp is type(None)


class Codec:
    """The type the host checks a value against (cty's JSON type) and how
    the value is turned into what the task function gets."""

    __slots__ = ("ty", "decode", "optional", "doc")

    def __init__(self, ty, decode, optional=False, doc=""):
        self.ty = ty
        self.decode = decode
        self.optional = optional
        self.doc = doc


def _want(path, what, v):
    return ArgError("argument %s: want %s, not %s" % (_q(path), what, _json_kind(v)))


def _q(path):
    return '"%s"' % path


def _json_kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a bool"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _dec_str(v, path):
    if not isinstance(v, str):
        raise _want(path, "a string", v)
    return v


def _dec_bool(v, path):
    if not isinstance(v, bool):
        raise _want(path, "a bool", v)
    return v


def _dec_int(v, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _want(path, "a whole number", v)
    if isinstance(v, float):
        if not v.is_integer():
            raise ArgError("argument %s: want a whole number, not %s" % (_q(path), repr(v)))
        v = int(v)
    return v


def _dec_float(v, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _want(path, "a number", v)
    return float(v)


def _dec_any(v, path):
    return v


def codec(tp, where, globalns=None, visiting=()):
    """The Codec of the type hint tp; SchemaError if it cannot be an argument."""
    tp = _eval(tp, globalns)
    if tp is _MISSING or tp is _typing("Any") or tp is object:
        return Codec("dynamic", _dec_any)
    if tp is str:
        return Codec("string", _dec_str)
    if tp is bool:
        return Codec("bool", _dec_bool)
    if tp is int:
        return Codec("number", _dec_int)
    if tp is float:
        return Codec("number", _dec_float)
    if tp is list:
        return Codec(["list", "dynamic"], lambda v, p: _dec_list(v, p, _dec_any))
    if tp is dict:
        return Codec(["map", "dynamic"], lambda v, p: _dec_map(v, p, _dec_any))
    meta = getattr(tp, "__metadata__", None)
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if meta is not None and origin is not None:
        # typing.Annotated[X, "doc", ...]
        c = codec(origin, where, globalns, visiting)
        docs = [m for m in meta if isinstance(m, str)]
        if docs:
            c = Codec(c.ty, c.decode, c.optional, docs[0])
        return c
    union = _typing("Union")
    if (origin is not None and origin is union) or isinstance(tp, _UnionType):
        rest = [a for a in args if not _is_none(a)]
        if len(rest) != 1:
            raise SchemaError("type %s cannot be an argument: a union is allowed only with None (Optional[X])" % _name(tp))
        c = codec(rest[0], where, globalns, visiting)
        dec = c.decode
        return Codec(c.ty, lambda v, p: None if v is None else dec(v, p), True, c.doc)
    if origin in (list, tuple, set, frozenset) and args:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise SchemaError("type %s cannot be an argument: use tuple[X, ...] or list[X]" % _name(tp))
        e = codec(args[0], where, globalns, visiting)
        edec = e.decode
        if origin is list:
            return Codec(["list", e.ty], lambda v, p: _dec_list(v, p, edec))
        kind = "list" if origin is tuple else "set"
        return Codec([kind, e.ty], lambda v, p: origin(_dec_list(v, p, edec)))
    if origin is dict and args:
        if args[0] is not str:
            raise SchemaError("type %s cannot be an argument: map keys must be str" % _name(tp))
        e = codec(args[1], where, globalns, visiting)
        edec = e.decode
        return Codec(["map", e.ty], lambda v, p: _dec_map(v, p, edec))
    if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
        return _dataclass(tp, where, visiting)
    raise SchemaError("type %s cannot be an argument" % _name(tp))


def _name(tp):
    if isinstance(tp, type) and not getattr(tp, "__args__", None):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


def _dec_list(v, path, edec):
    if not isinstance(v, list):
        raise _want(path, "a list", v)
    return [edec(x, "%s[%d]" % (path, i)) for i, x in enumerate(v)]


def _dec_map(v, path, edec):
    if not isinstance(v, dict):
        raise _want(path, "a map", v)
    return {k: edec(x, '%s["%s"]' % (path, k)) for k, x in v.items()}


def _dataclass(tp, where, visiting):
    if tp in visiting:
        raise SchemaError("type %s contains itself; use typing.Any for a recursive argument" % tp.__qualname__)
    visiting = visiting + (tp,)
    dc = sys.modules["dataclasses"]
    gns = getattr(sys.modules.get(tp.__module__), "__dict__", {})
    fields = []
    for f in dc.fields(tp):
        if not f.init:
            continue
        c = codec(f.type, where, gns, visiting)
        has_default = f.default is not dc.MISSING or f.default_factory is not dc.MISSING
        fields.append((f.name, c, has_default))
    attrs = {n: c.ty for n, c, _ in sorted(fields, key=lambda x: x[0])}
    optional = sorted(n for n, c, d in fields if d or c.optional)
    ty = ["object", attrs] + ([optional] if optional else [])
    byname = {n: (c, d) for n, c, d in fields}

    def dec(v, path):
        if not isinstance(v, dict):
            raise _want(path, "an object", v)
        kw = {}
        for k, x in v.items():
            if k not in byname:
                raise ArgError('unknown argument "%s.%s" (%s takes %s)' % (path, k, path, ", ".join(byname) or "no arguments"))
            c, has_default = byname[k]
            if x is None:
                if has_default:
                    continue
                if not c.optional:
                    raise ArgError('missing required argument "%s.%s"' % (path, k))
            kw[k] = c.decode(x, path + "." + k)
        for k, (c, has_default) in byname.items():
            if k not in kw and not has_default:
                if c.optional:
                    kw[k] = None
                else:
                    raise ArgError('missing required argument "%s.%s"' % (path, k))
        return tp(**kw)

    return Codec(ty, dec)


class ArgSpec:
    """One argument of a task or hook."""

    __slots__ = ("name", "codec", "required", "default", "has_default")

    def __init__(self, name, codec, required, default, has_default):
        self.name = name
        self.codec = codec
        self.required = required
        self.default = default
        self.has_default = has_default

    @property
    def doc(self):
        return self.codec.doc

    def default_json(self):
        """The default as JSON bytes; b"" when there is none or it is not
        JSON."""
        if not self.has_default or self.default is None:
            return b""
        import json
        try:
            return json.dumps(self.default, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            return b""


def arg_specs(fn, skip, where):
    """The arguments of fn after its first skip parameters (t, and a
    hook's Hook), from its type hints and defaults. where names the task
    in errors ("task \"ping\"")."""
    code = getattr(fn, "__code__", None)
    if code is None:
        raise SchemaError("%s: %r is not a Python function" % (where, fn))
    if code.co_flags & 0x04 or code.co_flags & 0x08:  # *args, **kwargs
        raise SchemaError("%s: a task function cannot take *args or **kwargs; name each argument" % where)
    npos = code.co_argcount
    names = list(code.co_varnames[:npos + code.co_kwonlyargcount])
    if npos < skip:
        raise SchemaError("%s: the function must take %s first" % (where, "t" if skip == 1 else "t and hook"))
    defaults = {}
    pos_defaults = fn.__defaults__ or ()
    for n, d in zip(names[npos - len(pos_defaults):npos], pos_defaults):
        defaults[n] = d
    defaults.update(fn.__kwdefaults__ or {})
    hints = getattr(fn, "__annotations__", {}) or {}
    # A function that forgot t would take the T object as its first
    # argument and lose that argument from its schema.
    for n, want in zip(names[:skip], ("T", "Hook")):
        h = hints.get(n, _MISSING)
        got = h if isinstance(h, str) else getattr(h, "__name__", None)
        if h is not _MISSING and got not in (want, "taskhost." + want):
            raise SchemaError("%s: the function must take %s first; its parameter %s is hinted %s, not %s" % (
                where, "t" if skip == 1 else "t and hook", _q(n), got or h, want))
    specs = []
    for n in names[skip:]:
        try:
            c = codec(hints.get(n, _MISSING), where, fn.__globals__)
        except SchemaError as e:
            raise SchemaError("%s: argument %s: %s" % (where, _q(n), e)) from None
        has_default = n in defaults
        specs.append(ArgSpec(n, c, not (has_default or c.optional), defaults.get(n), has_default))
    return specs


def decode_args(specs, args_json):
    """The keyword arguments for the task function from the host's JSON
    object; ArgError when they do not fit."""
    import json
    if not args_json or not args_json.strip():
        raw = {}
    else:
        try:
            raw = json.loads(args_json)
        except ValueError as e:
            raise ArgError("arguments are not a JSON object: %s" % e) from None
    if not isinstance(raw, dict):
        raise ArgError("arguments are not a JSON object")
    byname = {s.name: s for s in specs}
    for k in raw:
        if k not in byname:
            raise ArgError('unknown argument "%s" (this task takes %s)' % (k, ", ".join(byname) or "no arguments"))
    kw = {}
    for s in specs:
        v = raw.get(s.name)
        if v is None:
            if s.required:
                raise ArgError('missing required argument "%s"' % s.name)
            if not s.has_default:
                kw[s.name] = None
            continue
        kw[s.name] = s.codec.decode(v, s.name)
    return kw
