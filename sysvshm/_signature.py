"""inspect.signature() for the extension types.

A Cython class has no ``__text_signature__``, so ``inspect.signature(shm)`` (and
so help(), IPython's ``shm?`` and editors' call tips) would find nothing. A class
body says ``__signature__ = ClassSignature("(key=IPC_PRIVATE, ...)")``; the text
is parsed once, on first use. Defaults named there (``IPC_PRIVATE``, ``0o600``,
``PROT_WRITE|PROT_READ``) are the module's values, shown as written. ast and
inspect are imported then, not with the package: they cost five times the
package's import.
"""
import sys

__all__ = ["ClassSignature"]


class _Shown(int):
    """An int default whose repr() is the expression that gave it; in every
    other way (str, format, pickle, copy) the plain int it equals."""

    def __new__(cls, value, text):
        self = super().__new__(cls, value)
        self._text = text
        return self

    def __repr__(self):
        return self._text

    def __str__(self):
        return int.__repr__(self)

    def __format__(self, spec):
        return format(int(self), spec)

    def __reduce__(self):  # pickled and copied as the int
        return int, (int(self),)


def _value(node, text, namespace):
    """The default value of an ast expression: literals, module names, and | of them."""
    import ast

    if isinstance(node, ast.Constant):
        value = node.value
    elif isinstance(node, ast.Name):
        value = namespace[node.id]
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        value = _value(node.left, text, namespace) | _value(node.right, text, namespace)
    else:
        raise ValueError(f"unsupported default {ast.dump(node)}")
    shown = ast.get_source_segment(text, node)
    if type(value) is int and shown != repr(value):
        return _Shown(value, shown)
    return value


def parse(params, namespace):
    """An inspect.Signature from '(params)'; names in defaults resolve in namespace."""
    import ast
    import inspect

    text = f"def f{params}: pass"
    args = ast.parse(text).body[0].args
    kind = inspect.Parameter
    params = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        which = kind.POSITIONAL_ONLY if i < len(args.posonlyargs) else kind.POSITIONAL_OR_KEYWORD
        params.append(kind(arg.arg, which, default=kind.empty if default is None
                           else _value(default, text, namespace)))
    if args.vararg:
        params.append(kind(args.vararg.arg, kind.VAR_POSITIONAL))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append(kind(arg.arg, kind.KEYWORD_ONLY, default=kind.empty if default is None
                           else _value(default, text, namespace)))
    if args.kwarg:
        params.append(kind(args.kwarg.arg, kind.VAR_KEYWORD))
    return inspect.Signature(params)


class ClassSignature:
    """``__signature__ = ClassSignature("(params)")`` in a class body: the class's
    signature, and its subclasses' until one defines __new__ or __init__ (then
    None, and inspect works theirs out from it as usual)."""

    def __init__(self, params):
        self._params = params
        self._cache = None

    def __get__(self, obj, cls=None):
        if cls is None:
            cls = type(obj)
        for klass in cls.__mro__:
            if klass.__dict__.get("__signature__") is self:
                break
            if "__init__" in klass.__dict__ or "__new__" in klass.__dict__:
                return None
        else:
            return None
        if self._cache is None:
            namespace = vars(sys.modules[cls.__module__])
            self._cache = parse(self._params, namespace)
        return self._cache
