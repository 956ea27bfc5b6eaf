"""Configuration written once: the supported Python versions (setup.cfg's
classifiers) and the places that cannot read them but must agree."""
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTHONS = ROOT / "tools" / "pythons"

pytestmark = pytest.mark.skipif(not PYTHONS.exists(), reason="needs the source tree's tools/")


def run(root, *args):
    return subprocess.run([sys.executable, str(root / "tools" / "pythons"), *args],
                          capture_output=True, text=True)


def test_the_supported_versions_are_the_classifiers():
    out = run(ROOT)
    assert out.returncode == 0, out.stderr
    versions = out.stdout.split()
    assert versions[0] == "3.9" and len(versions) >= 5
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in versions
    assert run(ROOT, "--format", "py{nodot}-stdlib").stdout.strip() == ",".join(
        f"py{v.replace('.', '')}-stdlib" for v in versions)


def test_tox_cibuildwheel_and_python_requires_agree():
    out = run(ROOT, "--check")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


@pytest.mark.parametrize("path, old, new, complaint", [
    ("tox.ini", "py3{9,10,11,12,13}-stdlib", "py3{9,10,11,12}-stdlib", "tox.ini envlist"),
    ("pyproject.toml", ' cp313-*"', ' cp313-* cp314-*"', "[tool.cibuildwheel] build"),
    ("setup.cfg", "python_requires = >=3.9", "python_requires = >=3.8", "python_requires"),
    ("setup.cfg", "Programming Language :: Python :: 3.13\n", "", "tox.ini envlist"),
    ("tox.ini", "envlist = ", "envlist = py38, ", "tox.ini envlist py*"),
    ("tox.ini", "envlist = ", "envlist = py313-fast, ", "py*-fast envs"),
    ("pyproject.toml", 'skip = "cp3??t-*"', 'skip = "cp3??t-* cp313-*"', "drops supported"),
    ("README.md", "3.9-3.13", "3.8-3.13", "README.md"),
    ("docs/installation.rst", "3.12 and 3.13", "3.12", "docs/installation.rst"),
])
def test_the_check_catches_a_disagreement(tmp_path, path, old, new, complaint):
    for name in ("setup.cfg", "tox.ini", "pyproject.toml", "tools/pythons", "README.md",
                 "docs/installation.rst"):
        (tmp_path / name).parent.mkdir(exist_ok=True, parents=True)
        shutil.copy(ROOT / name, tmp_path / name)
    text = (tmp_path / path).read_text()
    assert old in text
    (tmp_path / path).write_text(text.replace(old, new, 1))
    out = run(tmp_path, "--check")
    assert out.returncode == 1
    assert complaint in out.stderr


def test_check_readme_stops_when_the_list_is_broken(tmp_path):
    # A gap in the classifiers makes tools/pythons fail; check-readme must fail
    # too, not report success after testing no version.
    for name in ("setup.cfg", "README.md", "tools/pythons", "tools/check-readme"):
        (tmp_path / name).parent.mkdir(exist_ok=True, parents=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    cfg = tmp_path / "setup.cfg"
    cfg.write_text(cfg.read_text().replace("Programming Language :: Python :: 3.11\n", ""))
    out = subprocess.run(["bash", str(tmp_path / "tools" / "check-readme")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "gap" in out.stderr and "pass on" not in out.stdout


@pytest.mark.skipif(not (ROOT / ".ci" / "run").exists(), reason="needs the repository's .ci/")
def test_ci_reads_the_list_before_using_it():
    # $(tools/pythons) inside a for loop or a word would ignore its failure.
    text = (ROOT / ".ci" / "run").read_text()
    assert "pythons=$(tools/pythons)" in text and "for minor in $pythons" in text
    assert "in $(tools/pythons" not in text and "set -euo pipefail" in text


def cython_sources():
    return sorted(p for p in (ROOT / "sysvshm").iterdir() if p.suffix in (".pyx", ".pxd", ".pxi"))


def test_compiler_directives_are_written_once():
    # setup.py's cythonize(compiler_directives=...) is the only place: a header
    # in one .pyx would silently differ from the others.
    sources = cython_sources()
    assert sources
    assert [p.name for p in sources if re.search(r"^#\s*cython\s*:", p.read_text(), re.M)] == []
    assert "compiler_directives=" in (ROOT / "setup.py").read_text()


def test_c_declarations_live_in_includes():
    # Every `cdef extern` block is in sysvshm/includes/ (one .pxd per header),
    # so a module's C dependencies are read in one place; the modules cimport them.
    sources = cython_sources()
    assert sources
    assert [p.name for p in sources if re.search(r"^\s*cdef\s+extern\b", p.read_text(), re.M)] == []
    assert list((ROOT / "sysvshm" / "includes").glob("*.pxd"))
