"""The examples in docs/ run as doctests, against the installed package."""
import ast
import doctest
import importlib
import inspect
import os
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if ">>>" in p.read_text())


def test_there_are_examples():
    assert len(PAGES) >= 3, PAGES


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_doc_examples(page):
    if "numpy" in page.read_text():
        pytest.importorskip("numpy")
    result = doctest.testfile(str(page), module_relative=False, verbose=False,
                              optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page}"


# -- the reference pages against the installed package ---------------------------
#
# The API pages are written by hand (the compiled modules cannot be autodoc'ed from
# the source tree), so nothing but these tests keeps them in step with the code:
# every documented signature is compared with the runtime's, every public name has
# an entry, and no entry is left without a description.

_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?P<kind>[a-z]+)::(?P<rest>.*)$")
_OBJECT_KINDS = ("function", "class", "method", "attribute", "data", "exception")
_REQUIRED, _OPTIONAL = "<required>", "<optional>"  # a default written as [, x]


class _Entry:
    def __init__(self, path, line, kind, signatures, module, owner, body):
        self.path, self.line, self.kind = path, line, kind
        self.signatures, self.module, self.owner, self.body = signatures, module, owner, body

    def where(self, signature=None):
        return f"{self.path.relative_to(DOCS)}:{self.line}: .. {self.kind}:: {signature or ''}"


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _own_text(block, body_indent):
    """The lines of a directive's body that are not inside a nested directive."""
    text, nested = [], False
    for line in block:
        if not line.strip():
            continue
        if _indent(line) == body_indent:
            nested = line.lstrip().startswith(".. ")
        if not nested:
            text.append(line.strip())
    return text


def _entries(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    module, owners = None, []  # owners: (indent, class name) of the enclosing classes
    for i, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if not match:
            continue
        indent, kind = len(match["indent"]), match["kind"]
        if kind in ("module", "currentmodule"):
            module, owners = match["rest"].strip(), []
            continue
        if kind not in _OBJECT_KINDS:
            continue
        signatures = [match["rest"].strip()]
        j = i + 1
        while j < len(lines) and lines[j].strip() and not lines[j].lstrip().startswith(":"):
            signatures.append(lines[j].strip())  # more signatures of the same entry
            j += 1
        while j < len(lines) and lines[j].lstrip().startswith(":"):
            j += 1  # options
        block = []
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
            block.append(lines[j])
            j += 1
        body_indent = min((_indent(b) for b in block if b.strip()), default=indent + 3)
        while owners and owners[-1][0] >= indent:
            owners.pop()
        owner = owners[-1][1] if owners else None
        yield _Entry(path, i + 1, kind, signatures, module, owner, _own_text(block, body_indent))
        if kind in ("class", "exception"):
            owners.append((indent, signatures[0].split("(")[0].strip()))


ENTRIES = [e for page in sorted(DOCS.rglob("*.rst")) for e in _entries(page)]


def _split_signature(signature):
    """name, and the text between the parentheses (None without them)."""
    if "(" not in signature:
        return signature.strip(), None
    name, _, rest = signature.partition("(")
    assert rest.rstrip().endswith(")"), signature
    return name.strip(), rest.rstrip()[:-1]


def _documented_parameters(text):
    """[(name, kind, default source or _REQUIRED/_OPTIONAL)] of a signature's
    parameter list, with the docs' [, optional] notation."""
    pieces, current, depth, brackets, optional = [], "", 0, 0, False
    for ch in text + ",":
        if depth == 0 and ch in "[]":
            brackets += 1 if ch == "[" else -1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            if current.strip():
                pieces.append((current.strip(), optional))
            current = ""
            continue
        if not current.strip() and not ch.isspace():
            optional = brackets > 0
        current += ch
    assert brackets == 0 and depth == 0, f"unbalanced signature: ({text})"
    P = inspect.Parameter
    kind, params = P.POSITIONAL_OR_KEYWORD, []
    if "/" in [p for p, _ in pieces]:
        kind = P.POSITIONAL_ONLY
    for piece, optional in pieces:
        if piece == "/":
            kind = P.POSITIONAL_OR_KEYWORD
        elif piece == "*":
            kind = P.KEYWORD_ONLY
        elif piece.startswith("**"):
            params.append((piece[2:], P.VAR_KEYWORD, _REQUIRED))
        elif piece.startswith("*"):
            params.append((piece[1:], P.VAR_POSITIONAL, _REQUIRED))
            kind = P.KEYWORD_ONLY
        else:
            name, eq, default = (s.strip() for s in piece.partition("="))
            params.append((name, kind, default if eq else _OPTIONAL if optional else _REQUIRED))
    return params


def _docstring_parameters(obj, name):
    """The parameters in the first line of a docstring (the signature that Cython's
    embedsignature writes, and help() shows, for a type whose constructor
    inspect cannot read)."""
    first = (obj.__doc__ or "").lstrip().splitlines()[0]
    assert first.startswith(name + "("), f"{obj!r}: no signature in the docstring"
    tree = ast.parse(f"def f({_split_signature(first)[1]}): pass")
    args = tree.body[0].args
    P, params = inspect.Parameter, []
    positional = [(a, P.POSITIONAL_ONLY) for a in args.posonlyargs]
    positional += [(a, P.POSITIONAL_OR_KEYWORD) for a in args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for (arg, kind), default in zip(positional, defaults):
        params.append((arg.arg, kind, ast.unparse(default) if default else _REQUIRED))
    if args.vararg:
        params.append((args.vararg.arg, P.VAR_POSITIONAL, _REQUIRED))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        params.append((arg.arg, P.KEYWORD_ONLY, ast.unparse(default) if default else _REQUIRED))
    if args.kwarg:
        params.append((args.kwarg.arg, P.VAR_KEYWORD, _REQUIRED))
    return params, True


def _runtime_parameters(obj, name):
    """[(name, kind, default)], and whether the defaults are source text."""
    try:
        signature = inspect.signature(obj)
    except ValueError:
        return _docstring_parameters(obj, name)
    params = [(p.name, p.kind, _REQUIRED if p.default is p.empty else p.default)
              for p in signature.parameters.values()]
    if params and params[0][0] in ("self", "cls") and not inspect.isclass(obj):
        params = params[1:]  # a function looked up on its class
    return params, False


def _resolve(entry, name):
    module = importlib.import_module(entry.module)
    owner = module
    for part in (entry.owner.split(".") if entry.owner else []):
        owner = getattr(owner, part)
    if entry.kind == "attribute" and not hasattr(owner, name):
        # An instance attribute: set in __init__, declared in the stub.
        try:
            source = inspect.getsource(owner)
        except (OSError, TypeError):  # a compiled class: its attributes are descriptors
            source = ""
        assert f"self.{name} =" in source, f"{entry.where(name)}: no attribute {name!r}"
        return None
    return getattr(owner, name)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.kind in _OBJECT_KINDS[:4]],
                         ids=lambda e: e.where(e.signatures[0]))
def test_documented_signature_is_the_runtime_one(entry):
    namespace = {"os": os}
    for signature in entry.signatures:
        name, text = _split_signature(signature)
        obj = _resolve(entry, name)
        if entry.kind == "attribute":
            continue
        namespace.update(vars(importlib.import_module(entry.module)))
        if text is None:
            # A class whose constructor is another's (a named tuple, a manager):
            # only functions and methods must show their parameters.
            assert entry.kind == "class", f"{entry.where(signature)}: no parameters"
            own = "__init__" in vars(obj) or "__signature__" in vars(obj)
            assert not own, f"{entry.where(signature)}: its constructor's parameters are missing"
            continue
        documented = _documented_parameters(text)
        runtime, as_source = _runtime_parameters(obj, name)
        where = entry.where(signature)
        assert [(n, k) for n, k, _ in documented] == [(n, k) for n, k, _ in runtime], (
            f"{where}: the runtime signature is "
            f"({', '.join(f'{n}: {k.description}' for n, k, _ in runtime)})")
        for (pname, _, doc_default), (_, _, run_default) in zip(documented, runtime):
            if as_source and run_default not in (_REQUIRED, _OPTIONAL):
                run_default = eval(run_default, namespace)
            if doc_default == _OPTIONAL:
                assert run_default is not _REQUIRED, f"{where}: {pname} is required"
            elif doc_default == _REQUIRED:
                assert run_default is _REQUIRED, f"{where}: {pname} has a default"
            else:
                value = eval(doc_default, namespace)
                # A signature's int default may be an int shown by name (IPC_PRIVATE,
                # PROT_WRITE|PROT_READ): then it must be shown as the docs write it.
                shown = (type(value) is int and isinstance(run_default, int)
                         and type(run_default) is not bool and repr(run_default) == doc_default)
                assert value == run_default and (type(value) is type(run_default) or shown), (
                    f"{where}: {pname}={doc_default} is {value!r}, the runtime's {run_default!r}")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.where(e.signatures[0]))
def test_every_entry_has_a_description(entry):
    assert entry.body, f"{entry.where(entry.signatures[0])}: no description"


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return {n for n in names if not inspect.ismodule(getattr(module, n))}


@pytest.mark.parametrize("module", ["sysvshm", "sysvshm.mmap", "sysvshm.shared_memory",
                                    "sysvshm.sync", "sysvshm.ndarray"])
def test_every_public_name_is_documented(module):
    documented = {_split_signature(s)[0] for e in ENTRIES
                  if e.module == module and e.owner is None for s in e.signatures}
    missing = _public_names(importlib.import_module(module)) - documented
    assert not missing, f"{module}: no entry for {sorted(missing)}"


@pytest.mark.parametrize("module", ["sysvshm", "sysvshm.mmap"])
def test_every_constant_is_a_data_entry(module):
    mod = importlib.import_module(module)
    constants = {n for n in _public_names(mod)
                 if n.isupper() and type(getattr(mod, n)) is int}
    assert len(constants) > 20
    data = {_split_signature(s)[0] for e in ENTRIES
            if e.module == module and e.kind == "data" for s in e.signatures}
    assert not constants - data, f"{module}: no .. data:: for {sorted(constants - data)}"


def test_the_signature_check_sees_a_missing_parameter():
    # The check compares names, kinds and defaults; a parameter left out is caught.
    runtime, _ = _runtime_parameters(importlib.import_module("sysvshm").shmat, "shmat")
    assert [n for n, _, _ in runtime] == ["shmid", "flags", "prefault"]
    assert _documented_parameters("shmid, flags=0") != [
        (n, k, d) for n, k, d in runtime]
    assert [(n, k.name, d) for n, k, d in _documented_parameters(
        "sub[, start[, end]], /, x=1, *, y")] == [
        ("sub", "POSITIONAL_ONLY", _REQUIRED), ("start", "POSITIONAL_ONLY", _OPTIONAL),
        ("end", "POSITIONAL_ONLY", _OPTIONAL), ("x", "POSITIONAL_OR_KEYWORD", "1"),
        ("y", "KEYWORD_ONLY", _REQUIRED)]
