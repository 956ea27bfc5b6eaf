"""What a new user meets first: the README's commands and an unbuilt source tree."""
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.exists(), reason="needs the source tree")


def test_readme_gives_exactly_two_commands_that_run_on_every_supported_python():
    blocks = re.findall(r"```sh\n(.*?)\n```", README.read_text(), re.S)
    assert len(blocks) == 2
    install, tests = (b.strip() for b in blocks)
    # -P exists only from 3.11; -I keeps the tree off sys.path from 3.4 on.
    for command in (install, tests):
        assert "\n" not in command and " -P " not in command
    assert install.startswith("python3 -m pip install .") and "sysvshm" in install
    assert "pytest" in tests


def test_importing_the_unbuilt_source_tree_says_what_to_do(tmp_path):
    # A copy of the package's Python sources, without the compiled modules.
    tree = tmp_path / "sysvshm"
    shutil.copytree(ROOT / "sysvshm", tree,
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    result = subprocess.run([sys.executable, "-c", "import sysvshm"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: sysvshm is being imported from its source tree")
    assert "pip install ." in last
    assert "sysvshm._buffer" not in result.stderr  # not the bare ModuleNotFoundError


def test_the_readme_example_runs():
    pytest.importorskip("numpy")
    code = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_example.py")],
                          capture_output=True, text=True, check=True).stdout
    result = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_signatures_users_see_are_python_ones():
    import inspect
    import pydoc

    import sysvshm
    import sysvshm.mmap

    signatures = {
        sysvshm.shm: "(key=IPC_PRIVATE, size=0, flags=0, mode=0o600, *, "
                     "access=ACCESS_DEFAULT, shmid=None, prefault=False)",
        sysvshm.mmap.mmap: "(fileno, length, flags=MAP_SHARED, prot=PROT_WRITE|PROT_READ, "
                           "access=ACCESS_DEFAULT, offset=0, *, trackfd=True, lock=False)",
    }
    for cls, text in signatures.items():
        assert str(inspect.signature(cls)) == text
        # help() shows it once, as the stdlib's classes do (3.13 wraps a long one
        # over several lines, each starting with " |  ").
        rendered = pydoc.render_doc(cls, renderer=pydoc.plaintext)

        def bare(t):
            return re.sub(r"[\s|]", "", t)
        assert bare(rendered).count(bare(cls.__name__ + text)) == 1
        assert not cls.__doc__.startswith(cls.__name__ + "(")
    assert str(inspect.signature(sysvshm.shm.move)) == "(self, dest, src, count, /)"
    assert str(inspect.signature(sysvshm.shm.flush)).startswith("(self, offset=0, size=")
    assert str(inspect.signature(sysvshm.shm.mincore)).startswith("(self, start=0, length=")
    assert str(inspect.signature(sysvshm.shmat)) == "(shmid, flags=0, *, prefault=False)"
    for obj in (sysvshm.shm.flush, sysvshm.shmget, sysvshm.shmat, sysvshm.mmap.mmap.resize):
        doc = obj.__doc__.splitlines()[0]
        for c_only in ("c_ipc.", "Py_ssize_t", "ACCESS_DEFAULT_", "offset_", "start_",
                       "dest_", "count_"):
            assert c_only not in doc, (obj, doc)


def test_sysvshm_mmap_has_no_stray_names():
    import sysvshm.mmap

    stray = {"os", "sys", "cython"} & set(dir(sysvshm.mmap))
    assert not stray


def _stub_members(module_file, class_name, seen=None):
    """Public member names a stub declares for a class, its stub bases included."""
    import ast

    tree = ast.parse(pathlib.Path(module_file).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AnnAssign)):
                    name = item.name if isinstance(item, ast.FunctionDef) else item.target.id
                    if not name.startswith("_"):
                        names.add(name)
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id == "MappedBuffer":
                    import sysvshm._buffer
                    names |= _stub_members(pathlib.Path(sysvshm._buffer.__file__).parent
                                           / "_buffer.pyi", "MappedBuffer")
    return names


@pytest.mark.parametrize("qualname", ["sysvshm._shm:shm", "sysvshm.mmap:mmap"])
def test_public_methods_and_stubs_agree(qualname):
    # What editors complete comes from the stubs: every public name must be there.
    import importlib

    module_name, class_name = qualname.split(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name)
    stub = pathlib.Path(module.__file__).parent / (module_name.split(".")[-1] + ".pyi")
    runtime = {n for n in dir(cls) if not n.startswith("_")}
    assert _stub_members(stub, class_name) == runtime


def _undocumented(stub_text):
    """Public names in a stub without a one-line docstring: functions, classes,
    methods and properties, and constants (an attribute docstring, the string
    statement right after the annotation, which editors show on hover)."""
    import ast

    def doc_of(body, i):
        node = body[i]
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            return ast.get_docstring(node)
        nxt = body[i + 1] if i + 1 < len(body) else None
        if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            return nxt.value.value
        return None

    def walk(body, prefix):
        for i, node in enumerate(body):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                name = node.target.id
            elif (isinstance(node, ast.Assign) and len(node.targets) == 1
                  and isinstance(node.targets[0], ast.Name)):
                name = node.targets[0].id
            else:
                continue
            if name.startswith("_") or (name == "__all__"):
                continue
            doc = doc_of(body, i)
            if not doc or not doc.strip() or "\n" in doc.strip():
                yield prefix + name
            if isinstance(node, ast.ClassDef):
                yield from walk(node.body, prefix + name + ".")

    return sorted(walk(ast.parse(stub_text).body, ""))


@pytest.mark.parametrize("module_name", ["sysvshm._shm", "sysvshm._buffer", "sysvshm.mmap",
                                         "sysvshm.shared_memory", "sysvshm"])
def test_every_public_stub_name_has_a_one_line_docstring(module_name):
    import importlib

    module = importlib.import_module(module_name)
    path = pathlib.Path(module.__file__)
    stub = path.parent / (module_name.split(".")[-1] + ".pyi")
    if path.name == "__init__.py":
        stub = path.parent / "__init__.pyi"
    assert _undocumented(stub.read_text()) == []


def test_the_docstring_check_finds_what_is_missing():
    text = ('X: int\nY: int\n"""Y."""\ndef f() -> None: ...\n'
            'class C:\n    """C."""\n    def m(self) -> None: ...\n    def _p(self) -> None: ...\n')
    assert _undocumented(text) == ["C.m", "X", "f"]


def test_the_pypi_page_says_pip_install_and_links_absolutely():
    # What PyPI shows is the installed distribution's metadata: setup.py's
    # long_description, made from README.md.
    from importlib import metadata

    meta = metadata.metadata("sysvshm")
    description = meta.get_payload() or meta["Description"]
    assert "python3 -m pip install sysvshm" in description
    assert "pip install ." not in description
    links = re.findall(r"\]\(([^)]+)\)", description)
    assert links and all(link.startswith("https://") for link in links), links
    home = meta["Home-page"]
    assert all(link.startswith(home + "/") for link in links)
    urls = dict(value.split(", ", 1) for value in meta.get_all("Project-URL"))
    assert set(urls) == {"Documentation", "Source", "Issues", "Changelog"}
    assert meta["License-Expression"] == "MIT"
    assert "Typing :: Typed" in meta.get_all("Classifier")


def test_the_class_signatures_are_what_the_constructors_take():
    # Every parameter the signature shows, passed by name with its default (its
    # kind respected), is accepted, and the defaults are the module's values.
    import inspect

    import sysvshm
    import sysvshm.mmap

    def call(cls, **given):
        sig = inspect.signature(cls)
        args, kwargs = [], {}
        for name, p in sig.parameters.items():
            value = given.get(name, p.default)
            if p.kind is p.KEYWORD_ONLY:
                kwargs[name] = value
            else:
                args.append(value)
        return cls(*args, **kwargs)

    seg = call(sysvshm.shm, size=4096)
    try:
        assert len(seg) == 4096 and seg.stat().mode == 0o600 and seg.key == 0
    finally:
        seg.remove()
        seg.close()
    m = call(sysvshm.mmap.mmap, fileno=-1, length=4096)
    m.close()
    sig = inspect.signature(sysvshm.mmap.mmap)
    assert sig.parameters["prot"].default == sysvshm.mmap.PROT_READ | sysvshm.mmap.PROT_WRITE
    assert sig.parameters["flags"].default == sysvshm.mmap.MAP_SHARED
    assert inspect.signature(sysvshm.shm).parameters["key"].default == sysvshm.IPC_PRIVATE
    with pytest.raises(TypeError):
        sysvshm.shm(0, 4096, 0, 0o600, 0)  # access= is keyword-only, as shown


def test_a_subclass_gets_its_own_signature():
    import inspect

    import sysvshm

    class Segment(sysvshm.shm):
        def __init__(self, name, size=4096):
            super().__init__(size=size)

    assert str(inspect.signature(Segment)) == "(name, size=4096)"

    class Plain(sysvshm.shm):  # no constructor of its own: shm's signature
        pass

    assert inspect.signature(Plain) == inspect.signature(sysvshm.shm)

    class Later(Plain):
        def __new__(cls, fd):
            return super().__new__(cls, size=4096)

    assert str(inspect.signature(Later)) == "(fd)"


def test_defaults_shown_by_name_are_plain_ints_otherwise():
    import copy
    import inspect
    import pickle

    import sysvshm

    sig = inspect.signature(sysvshm.shm)
    for name in ("key", "mode", "access"):
        default = sig.parameters[name].default
        for same in (pickle.loads(pickle.dumps(default)), copy.copy(default),
                     copy.deepcopy(default)):
            assert same == default and type(same) is int
        assert str(default) == str(int(default)) and f"{default}" == f"{int(default)}"
        assert f"{default:x}" == f"{int(default):x}"
    assert repr(sig.parameters["mode"].default) == "0o600"
    assert copy.deepcopy(sig) == sig
    bound = sig.bind(size=4096)
    bound.apply_defaults()
    assert pickle.loads(pickle.dumps(dict(bound.arguments))) == dict(bound.arguments)


SOURCE = ROOT / "sysvshm"


@pytest.mark.skipif(not (SOURCE / "_shm.pyx").exists(), reason="needs the source tree")
def test_the_shown_signatures_are_the_constructors_own():
    # The class signatures are written next to the constructors; hold them to the
    # code: shm.__init__'s parameters (Cython types dropped), and for mmap the
    # stdlib's keywords _parse() accepts plus lock.
    import inspect

    import sysvshm
    import sysvshm.mmap

    text = (SOURCE / "_shm.pyx").read_text()
    params = re.search(r"cdef class shm\(.*?def __init__\(self, (.*?)\):", text, re.S).group(1)
    params = re.sub(r"\b(?:Py_ssize_t|int|bint|object)\s+(?=\w)", "", " ".join(params.split()))
    assert str(inspect.signature(sysvshm.shm)) == f"({params})"

    text = (SOURCE / "mmap.pyx").read_text()
    keywords = re.search(r"^_KEYWORDS = \((.*?)\)", text, re.S | re.M).group(1)
    names = re.findall(r'"(\w+)"', keywords) + ["trackfd", "lock"]
    assert list(inspect.signature(sysvshm.mmap.mmap).parameters) == names
    assert 'kwargs.pop("lock"' in text and 'key == "trackfd"' in text
