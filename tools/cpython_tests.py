"""Run the running interpreter's own CPython tests against sysvshm.

    python tools/cpython_tests.py [-v] [-k TEXT] [--suite mmap|shm|shared_memory ...]
    tox -e py311-stdlib          (CI: py39-stdlib ... py313-stdlib)

CPython's ``test.test_mmap`` and the shared-memory tests of
``test._test_multiprocessing`` are imported from the interpreter that runs this
script (its ``test`` package; nothing of CPython's is copied here) with
sysvshm's modules in place of the stdlib's:

* ``mmap``: ``test.test_mmap`` with ``sysvshm.mmap`` as its ``mmap`` module.
* ``shm``: ``test.test_mmap`` with ``mmap.mmap(-1, n, ...)`` making a
  ``sysvshm.shm`` segment (tests of file-backed maps do not apply and are
  skipped).
* ``shared_memory[fork|spawn|forkserver]``: ``_TestSharedMemory`` with
  ``sysvshm.shared_memory.install()`` done in this process and in every child
  (spawn and forkserver children run this file as their ``__main__``).

Every test must pass, except those in EXPECTED_FAILURES (each with its reason;
docs/guides/stdlib-tests.rst explains them). The run fails when a test outside
the list fails, and also when a listed test passes (the list stays honest).
"""
import argparse
import collections
import fnmatch
import importlib
import multiprocessing
import os
import subprocess
import sys
import types
import unittest

import sysvshm
import sysvshm.mmap
import sysvshm.shared_memory
from sysvshm import mmap as M

# Spawn and forkserver children import this file as __mp_main__: they must find
# sysvshm's module under multiprocessing.shared_memory too.
sysvshm.shared_memory.install()

# The forkserver (started with -c) must be able to import this file as a module.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_HERE, os.environ.get("PYTHONPATH")) if p)

V = sys.version_info[:2]
_MODULE = os.path.splitext(os.path.basename(__file__))[0]
ALL = ((3, 9), (3, 13))

# (suite pattern, "Class.test" pattern, (first, last) Python version, reason)
EXPECTED_FAILURES = [
    ("mmap", "MmapTests.test_repr", ALL,
     "the repr names the type sysvshm.mmap.mmap, not mmap.mmap (as the stdlib names "
     "a subclass); the fields are the stdlib's"),
    ("shm", "MmapTests.test_repr", ((3, 11), (3, 13)),
     "the repr names the type sysvshm.shm and adds key= and shmid="),
    ("shared_memory*", "*.test_shared_memory_cleaned_after_process_termination", ALL,
     "judges the POSIX resource tracker: a process that made a block is killed, and "
     "the test expects the tracker's 'leaked shared_memory objects' warning on its "
     "stderr; sysvshm has no tracker (the block goes when its name is next used)"),
    ("shared_memory*", "*.test_shared_memory_tracking", ((3, 13), (3, 13)),
     "judges the POSIX resource tracker: expects its 'leaked shared_memory objects' "
     "warning when a process that attached a block with track=True exits, and the "
     "block destroyed then; sysvshm has no tracker and never destroys a block "
     "another process still uses"),
]

SUITES = ("mmap", "shm", "shared_memory")
START_METHODS = ("fork", "spawn", "forkserver")


def _expected(suite, test_id):
    name = ".".join(test_id.split(".")[-2:])
    for suite_pat, test_pat, (first, last), reason in EXPECTED_FAILURES:
        if fnmatch.fnmatch(suite, suite_pat) and fnmatch.fnmatch(name, test_pat) \
                and first <= V <= last:
            return reason
    return None


# -- the modules under test ------------------------------------------------------------

def _import_with(module_name, replacements):
    """Import *module_name* afresh while sys.modules maps names to *replacements*."""
    saved = {name: sys.modules.get(name) for name in replacements}
    sys.modules.pop(module_name, None)
    try:
        sys.modules.update(replacements)
        return importlib.import_module(module_name)
    finally:
        sys.modules.pop(module_name, None)
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _Segment(sysvshm.shm):
    """mmap.mmap's signature on a System V segment, for anonymous maps only.

    Made in __new__ as the stdlib's mmap is, so that subclasses overriding
    __new__ work as they do with mmap.mmap.
    """

    def __new__(cls, fileno, length, flags=M.MAP_SHARED, prot=M.PROT_READ | M.PROT_WRITE,
                access=M.ACCESS_DEFAULT, offset=0, *, trackfd=True):
        if fileno != -1:
            raise unittest.SkipTest("file-backed map: does not apply to a System V segment")
        if flags & M.MAP_PRIVATE or access == M.ACCESS_COPY:
            raise unittest.SkipTest("private (copy-on-write) map: does not apply to a "
                                    "System V segment")
        if prot != M.PROT_READ | M.PROT_WRITE:
            raise unittest.SkipTest("prot=: a System V segment is attached read-write "
                                    "or read-only (access=)")
        if offset:
            raise unittest.SkipTest("offset=: does not apply to a System V segment")
        if not trackfd:
            raise unittest.SkipTest("trackfd=False: a System V segment has no file "
                                    "descriptor to track")
        if length < 0:
            raise OverflowError("memory mapped length must be positive")
        self = super().__new__(cls)
        sysvshm.shm.__init__(self, size=length, access=access)
        self.remove()  # destroyed by the kernel once detached: nothing can leak
        return self

    def __init__(self, *args, **kwargs):
        pass


def _shm_module():
    module = types.ModuleType("mmap")
    module.__dict__.update({k: v for k, v in vars(sysvshm.mmap).items()
                            if not k.startswith("__")})
    module.mmap = _Segment
    return module


def _mmap_tests(module):
    test_mmap = _import_with("test.test_mmap", {"mmap": module})
    return unittest.defaultTestLoader.loadTestsFromModule(test_mmap)


def _shared_memory_tests(start_method):
    from test import _test_multiprocessing as tm

    namespace = {"__name__": f"shared_memory_{start_method}"}
    if V >= (3, 11):
        tm.install_tests_in_module_dict(namespace, start_method, only_type="processes")
    else:
        tm.install_tests_in_module_dict(namespace, start_method)
    suite = unittest.TestSuite()
    for obj in namespace.values():
        if isinstance(obj, type) and issubclass(obj, tm._TestSharedMemory):
            suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(obj))
    set_up = namespace["setUpModule"]
    tear_down = namespace["tearDownModule"]

    def set_up_with_sysvshm():
        set_up()
        _redirect_script_helper()
        # The forkserver imports its preload modules before any test; this file
        # (as a module: its directory is on PYTHONPATH, see above) comes first
        # so that they see sysvshm's module. (3.9 and 3.10 never preload
        # "__main__": their forkserver drops the main path.)
        from multiprocessing import forkserver
        preload = forkserver._forkserver._preload_modules
        multiprocessing.set_forkserver_preload(
            [_MODULE] + [m for m in preload if m != _MODULE])

    def tear_down_with_sysvshm():
        _restore_script_helper()
        tear_down()

    return suite, set_up_with_sysvshm, tear_down_with_sysvshm


# Scripts the tests run in a fresh interpreter (script_helper, with -I) import
# multiprocessing.shared_memory too: they get sysvshm's module the same way.
_PRELUDE = "import sysvshm.shared_memory; sysvshm.shared_memory.install()\n"
_script_helper_saved = {}


def _with_prelude(args):
    """*args* with _PRELUDE put before the code of a "-c" option, if there is one."""
    args = list(args)
    if "-c" in args[:-1]:
        at = args.index("-c") + 1
        args[at] = _PRELUDE + args[at]
    return args


def _redirect_script_helper():
    from test.support import script_helper

    def wrap(function):
        def call(*args, **kwargs):
            return function(*_with_prelude(args), **kwargs)
        return call

    for name in ("assert_python_ok", "assert_python_failure"):
        _script_helper_saved[name] = getattr(script_helper, name)
        setattr(script_helper, name, wrap(_script_helper_saved[name]))
    # ... and those started with subprocess.Popen([sys.executable, ..., "-c", code]).
    popen = _script_helper_saved["Popen"] = subprocess.Popen

    class Popen(popen):
        def __init__(self, args, *rest, **kwargs):
            if isinstance(args, list) and args and args[0] == sys.executable:
                args = _with_prelude(args)
            super().__init__(args, *rest, **kwargs)

    subprocess.Popen = Popen


def _restore_script_helper():
    from test.support import script_helper

    for name, function in _script_helper_saved.items():
        setattr(subprocess if name == "Popen" else script_helper, name, function)
    _script_helper_saved.clear()


# -- running and judging -----------------------------------------------------------------

class _Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes.setdefault(test.id(), ("pass", None))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = ("fail", self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[test.id()] = ("fail", self.errors[-1][1])

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self.outcomes.get(test.id(), ("",))[0] != "fail":  # a failure stays one
            self.outcomes[test.id()] = ("skip", reason)

    def addExpectedFailure(self, test, err):  # CPython's own @expectedFailure
        super().addExpectedFailure(test, err)
        self.outcomes[test.id()] = ("skip", "marked expectedFailure by CPython")

    def addUnexpectedSuccess(self, test):  # passed where CPython expects it to fail
        super().addUnexpectedSuccess(test)
        self.outcomes[test.id()] = ("fail", "unexpected success of a test CPython marks "
                                            "expectedFailure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "fail" if not issubclass(err[0], unittest.SkipTest) else "skip"
            if kind == "fail":
                self.outcomes[test.id()] = ("fail", self._exc_info_to_string(err, test))


def _select(suite, pattern):
    if not pattern:
        return suite
    chosen = unittest.TestSuite()
    for test in _flatten(suite):
        if pattern in test.id():
            chosen.addTest(test)
    return chosen


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


def _run(label, suite, verbosity, pattern=None):
    suite = _select(suite, pattern)
    print(f"\n=== {label}: CPython {sys.version.split()[0]}'s tests against sysvshm ===",
          flush=True)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbosity,
                                     resultclass=_Result)
    result = runner.run(suite)
    return result.outcomes


def _judge(label, outcomes):
    counts = collections.Counter()
    skips = collections.Counter()
    problems = []
    for test_id, (kind, detail) in sorted(outcomes.items()):
        reason = _expected(label, test_id)
        short = ".".join(test_id.split(".")[-2:])
        if kind == "skip":
            counts["skipped"] += 1
            skips[detail.splitlines()[0] if detail else ""] += 1
        elif kind == "fail" and reason:
            counts["expected failures"] += 1
            print(f"  expected failure: {short}\n      reason: {reason}")
        elif kind == "fail":
            problems.append(f"{label}: {short} FAILED (not in EXPECTED_FAILURES):\n{detail}")
        elif reason:
            problems.append(f"{label}: {short} passed but is listed in EXPECTED_FAILURES "
                            f"({reason}): take it off the list")
        else:
            counts["passed"] += 1
    ran = sum(counts.values())
    if counts["passed"] + counts["expected failures"] == 0:
        problems.append(f"{label}: no test ran (or every one was skipped)")
    print(f"{label}: {ran} ran, {counts['passed']} passed, "
          f"{counts['expected failures']} expected failures, {counts['skipped']} skipped")
    for reason, n in sorted(skips.items()):
        print(f"    skipped {n}: {reason}")
    return problems, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=SUITES,
                        help="run only this suite (repeatable); default: all")
    parser.add_argument("--start-method", action="append", choices=START_METHODS,
                        help="shared_memory start methods; default: all")
    parser.add_argument("-k", dest="pattern", help="run only tests whose id contains this")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    suites = args.suite or SUITES
    verbosity = 2 if args.verbose else 1
    problems = []
    totals = []
    if "mmap" in suites:
        outcomes = _run("mmap", _mmap_tests(sysvshm.mmap), verbosity, args.pattern)
        totals.append(("mmap", _judge("mmap", outcomes)))
    if "shm" in suites:
        outcomes = _run("shm", _mmap_tests(_shm_module()), verbosity, args.pattern)
        totals.append(("shm", _judge("shm", outcomes)))
    if "shared_memory" in suites:
        for method in args.start_method or START_METHODS:
            label = f"shared_memory[{method}]"
            suite, set_up, tear_down = _shared_memory_tests(method)
            set_up()
            try:
                outcomes = _run(label, suite, verbosity, args.pattern)
            finally:
                tear_down()
            totals.append((label, _judge(label, outcomes)))
    print(f"\nSummary, CPython {sys.version.split()[0]}:")
    for label, (found, counts) in totals:
        problems.extend(found)
        print(f"  {label:28} ran {sum(counts.values()):3}  passed {counts['passed']:3}  "
              f"expected failures {counts['expected failures']:2}  "
              f"skipped {counts['skipped']:3}")
    for problem in problems:
        print("\n" + problem, file=sys.stderr)
    if problems:
        print(f"\n{len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
