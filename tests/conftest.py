"""Fixtures shared by the suite, and the guard that no test leaks a segment.

A System V segment outlives every process until it is removed or the machine
reboots, so each test is checked for segments it left behind (the test fails and
the segments are removed), and the session fails if any remain at the end.
"""
import os
import pathlib
from multiprocessing import shared_memory as std_shared_memory

import _mmap_cases
import _proc
import pytest

import sysvshm
from sysvshm import shared_memory

REPO = pathlib.Path(__file__).resolve().parent.parent


def pytest_report_header(config):
    return f"sysvshm {sysvshm.__version__} from {pathlib.Path(sysvshm.__file__).parent}"


def pytest_configure(config):
    # The tests exercise the installed build (pip install .), never a stale
    # in-place build that happens to sit in the source tree.
    here = pathlib.Path(sysvshm.__file__).resolve().parent
    if here == REPO / "sysvshm" and not os.environ.get("SYSVSHM_TEST_INPLACE"):
        raise pytest.UsageError(
            "sysvshm was imported from the source tree; run `pip install .` and "
            "run pytest from the repository root (set SYSVSHM_TEST_INPLACE=1 to override)")


def pytest_collection_modifyitems(config, items):
    # The one place the root marker is honoured: CI runs as root, so these run
    # there; elsewhere they are skipped with the reason, never silently dropped.
    if os.geteuid() == 0:
        return
    for item in items:
        marker = item.get_closest_marker("root")
        if marker:
            why = marker.kwargs.get("reason")
            item.add_marker(pytest.mark.skip(reason=f"needs root: {why}" if why else "needs root"))


def segment_ids():
    """Ids of the segments this run created (others may share the machine)."""
    return _proc.own_ids()


def _remove_all(ids):
    for shmid in ids:
        try:
            sysvshm.shmctl(shmid, sysvshm.IPC_RMID)
        except OSError:
            pass


_session_start = segment_ids()


@pytest.fixture(autouse=True)
def _no_leaked_segments():
    before = segment_ids()
    yield
    leaked = segment_ids() - before - _session_start
    if leaked:
        _remove_all(leaked)
        pytest.fail(f"test left {len(leaked)} System V segment(s) behind: {sorted(leaked)}")


def pytest_sessionfinish(session, exitstatus):
    leaked = segment_ids() - _session_start
    if leaked:
        _remove_all(leaked)
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"ERROR: the run left {len(leaked)} System V segment(s) behind: {sorted(leaked)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def make_shm():
    """Factory for segment objects; every segment it makes is removed afterwards."""
    made = []

    def make(size=4096, **kwargs):
        seg = sysvshm.shm(size=size, **kwargs)
        made.append(seg)
        return seg

    yield make
    for seg in made:
        try:
            sysvshm.shmctl(seg.shmid, sysvshm.IPC_RMID)
        except FileNotFoundError:
            pass
        try:
            seg.close()
        except BufferError:
            pass


@pytest.fixture
def seg(make_shm):
    return make_shm(4096)


@pytest.fixture
def free_key():
    """A key no segment uses now; the segment created with it is removed afterwards."""
    key = 0x5E000000 | (os.getpid() & 0xFFFF) << 8
    while True:
        try:
            sysvshm.shmget(key)
        except FileNotFoundError:
            break
        key += 1
    yield key
    try:
        sysvshm.shmctl(sysvshm.shmget(key), sysvshm.IPC_RMID)
    except FileNotFoundError:
        pass


# -- implementations, for the parity tests (aio-libs propcache's model) ------------------
# A test that takes one of these fixtures runs once on each implementation.

@pytest.fixture(params=[std_shared_memory, shared_memory], ids=["stdlib", "sysvshm"])
def shared_memory_module(request):
    """multiprocessing.shared_memory, then sysvshm.shared_memory."""
    return request.param


@pytest.fixture(params=_mmap_cases.IMPLEMENTATIONS)
def mmap_pair(request, make_shm, tmp_path):
    """The stdlib's mmap and one of ours with its interface (sysvshm.shm, and
    sysvshm.mmap file-backed and anonymous both ways), each holding CONTENT."""
    pair = _mmap_cases.make_implementation_pair(request.param, make_shm, tmp_path)
    yield pair
    pair.close()
