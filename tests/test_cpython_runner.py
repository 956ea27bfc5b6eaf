"""tools/cpython_tests.py, the runner of CPython's own tests against sysvshm:
its verdicts, and its expected-failure list against the docs. (CI runs the
runner itself in tox's py3X-stdlib environments.)"""
import json
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tools" / "cpython_tests.py"
GUIDE = ROOT / "docs" / "guides" / "stdlib-tests.rst"

pytestmark = pytest.mark.skipif(not RUNNER.exists(), reason="needs the source tree")


def in_child(code):
    """Run *code* in a fresh interpreter that loaded the runner as a module (its
    top level installs sysvshm.shared_memory, so not in this process)."""
    prelude = f"import runpy, json\nns = runpy.run_path({str(RUNNER)!r}, run_name='runner')\n"
    result = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_expected_failure_is_explained_in_the_docs():
    entries = json.loads(in_child("print(json.dumps(ns['EXPECTED_FAILURES']))"))
    assert entries, "the list is empty: then this test and the docs section should go"
    guide = GUIDE.read_text()
    for suite, test, _versions, reason in entries:
        name = test.split(".")[-1]
        assert f"``{name}`` (``{suite}`` suite" in guide, (suite, test)
        assert reason


def test_the_runner_fails_on_unexpected_failures_and_unexpected_passes():
    out = in_child("""
        judge = ns["_judge"]
        mmap_repr = "test.test_mmap.MmapTests.test_repr"
        cases = {
            "listed test fails": ("mmap", {mmap_repr: ("fail", "tb")}),
            "listed test passes": ("mmap", {mmap_repr: ("pass", None)}),
            "unlisted test fails": ("mmap", {"test.test_mmap.MmapTests.test_x": ("fail", "tb")}),
            "unlisted test passes": ("mmap", {"test.test_mmap.MmapTests.test_x": ("pass", None)}),
            "skip": ("shm", {"test.test_mmap.MmapTests.test_y": ("skip", "why")}),
            "other suite": ("shared_memory[fork]", {"x.Y.test_repr": ("fail", "tb")}),
        }
        verdicts = {}
        for label, (suite, outcomes) in cases.items():
            problems, counts = judge(suite, outcomes)
            verdicts[label] = [len(problems), dict(counts)]
        print("RESULT" + json.dumps(verdicts))
    """)
    verdicts = json.loads(out.split("RESULT", 1)[1])
    assert verdicts["listed test fails"] == [0, {"expected failures": 1}]
    assert verdicts["listed test passes"][0] >= 1
    assert verdicts["unlisted test fails"][0] >= 1
    assert verdicts["unlisted test passes"] == [0, {"passed": 1}]
    assert verdicts["skip"] == [1, {"skipped": 1}]  # a suite in which nothing ran fails
    assert verdicts["other suite"][0] >= 1  # an entry applies to its own suite only


def shmids():
    with open("/proc/sysvipc/shm") as f:
        return {line.split()[1] for line in f.readlines()[1:]}


def test_the_shm_adapter_runs_cpython_tests_and_leaves_no_segment():
    before = shmids()
    command = [sys.executable, str(RUNNER), "--suite", "shm", "-k", "test_extended_getslice"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "shm: 1 ran, 1 passed" in result.stdout, result.stdout[-2000:]
    assert shmids() <= before


def test_a_failure_stays_one_when_the_test_then_skips():
    out = in_child("""
        import unittest

        class T(unittest.TestCase):
            def test_a(self):
                with self.subTest(i=1):
                    self.fail("x")
                self.skipTest("later")

        suite = unittest.defaultTestLoader.loadTestsFromTestCase(T)
        outcomes = ns["_run"]("mmap", suite, 0)
        problems, counts = ns["_judge"]("mmap", outcomes)
        print("RESULT" + json.dumps([len(problems), dict(counts)]))
    """)
    problems, counts = json.loads(out.split("RESULT", 1)[1])
    assert problems >= 1 and "passed" not in counts
