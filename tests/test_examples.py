"""The programs in examples/ run, print what they say, and leave no segment behind."""
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import _proc
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run_example(*args, code=None):
    """python -I examples/NAME (or -c CODE), from outside the tree; its segments checked."""
    argv = [sys.executable, "-I"] + (["-c", code] if code else [str(EXAMPLES / args[0])])
    with subprocess.Popen(argv + list(args[0 if code else 1:]), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd="/",
                          start_new_session=True) as proc:
        _proc.started(proc.pid)
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            # A hang is a failure, not a reason to hang the suite: kill the example
            # and everything it started, and remove what it left.
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            for r in _proc.rows():
                if r["cpid"] == proc.pid:
                    _proc.remove_if_there(r["shmid"])
            pytest.fail(f"the example hung for 300 s and was killed; stderr:\n{err}")
    left = [r["shmid"] for r in _proc.rows() if r["cpid"] == proc.pid]
    assert left == [], f"the example left segments {left} behind"
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def run_patched(example, patch):
    """The example run with *patch* (Python code) executed first, to make one of its
    calls fail or be interrupted; run_example() checks that no segment is left."""
    return run_example(code=f"{patch}\nimport runpy\n"
                            f"runpy.run_path({str(EXAMPLES / example)!r}, run_name='__main__')")


def has_numpy():
    return subprocess.run([sys.executable, "-I", "-c", "import numpy"],
                          capture_output=True, timeout=120).returncode == 0


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "ftok_key.py", "ndarray_pool.py", "numpy_producer_consumer.py",
        "pool_shared_memory.py", "sync_counter.py"]


@pytest.mark.skipif(not has_numpy(), reason="numpy is not installed")
def test_ndarray_pool():
    result = run_example("ndarray_pool.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "4000 rows normalized in 8 tasks, by worker processes",
        "every row has unit length: True",
        "the array: (4000, 1000) float64, 30 MiB, one copy"]


def test_sync_counter_recovers_from_a_killed_lock_holder():
    result = run_example("sync_counter.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "worker 0: killed mid-update, holding the lock",
        "coordinator: the lock's owner died mid-update; rolled back 5",
        "coordinator: total = 15000 (3 workers x 1000 adds of 5)"]


@pytest.mark.skipif(not has_numpy(), reason="numpy is not installed")
def test_numpy_producer_consumer():
    result = run_example("numpy_producer_consumer.py")
    assert result.returncode == 0, result.stderr
    n = 1_000_000
    expected = []
    for k in range(3):
        total = n * (n - 1) // 2 * (k + 1)
        expected += [f"producer: round {k}: wrote, expect {total}",
                     f"consumer: round {k}: sum = {total}"]
    assert result.stdout.splitlines() == expected


def test_numpy_example_without_numpy_skips_with_a_message():
    code = ("import runpy, sys\nsys.modules['numpy'] = None  # import numpy fails\n"
            f"runpy.run_path({str(EXAMPLES / 'numpy_producer_consumer.py')!r}, "
            "run_name='__main__')")
    result = run_example(code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "numpy is not installed: skipping this example (pip install numpy)\n"


def _children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass  # gone meanwhile
    return found


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def _semaphores():
    return {n for n in os.listdir("/dev/shm") if n.startswith("sem.")} if os.path.isdir(
        "/dev/shm") else set()


@pytest.mark.skipif(not has_numpy(), reason="numpy is not installed")
def test_numpy_example_killed_leaves_nothing():
    semaphores = _semaphores()
    with subprocess.Popen([sys.executable, "-I", str(EXAMPLES / "numpy_producer_consumer.py")],
                          stdout=subprocess.PIPE, text=True, cwd="/",
                          start_new_session=True) as proc:
        _proc.started(proc.pid)
        assert proc.stdout.readline().startswith("producer: round 0")
        mine = [r for r in _proc.rows() if r["cpid"] == proc.pid]
        assert len(mine) == 1 and mine[0]["perms"] & 0o1000  # SHM_DEST: already removed
        # The producer and its consumer, no cleanup. Not the whole process group:
        # multiprocessing's resource tracker must live on to unlink the Events'
        # POSIX semaphores (/dev/shm/sem.mp-*), which would otherwise stay until reboot.
        tracker, others = [], []
        for pid in _children_of(proc.pid):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                (tracker if b"resource_tracker" in f.read() else others).append(pid)
        assert tracker and others  # the consumer, and the tracker of the spawn context
        for pid in [proc.pid, *others]:
            os.kill(pid, signal.SIGKILL)
        proc.wait(60)
        for _ in range(200):  # the tracker exits once every process using it is gone
            if not os.path.exists(f"/proc/{tracker[0]}") or _zombie(tracker[0]):
                break
            time.sleep(0.05)
    for _ in range(100):  # the kernel frees it at the consumer's exit
        if not [r for r in _proc.rows() if r["cpid"] == proc.pid]:
            break
        time.sleep(0.05)
    assert [r for r in _proc.rows() if r["cpid"] == proc.pid] == []
    # The tracker unlinked the Events' semaphores. Polled: /dev/shm is the
    # machine's, and another program's multiprocessing may hold some a moment.
    for _ in range(400):
        if _semaphores() <= semaphores:
            break
        time.sleep(0.05)
    assert _semaphores() <= semaphores


def test_ftok_key():
    result = run_example("ftok_key.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"reader: key 0x[0-9a-f]{8} holds 'hello from the writer'", lines[0])
    assert lines[1] == "writer: the reader replied 'thanks, reader here'"


def test_pool_shared_memory():
    result = run_example("pool_shared_memory.py")
    assert result.returncode == 0, result.stderr
    total = sum(i * i for i in range(100_000))
    assert result.stdout == f"100000 numbers squared by the pool; sum {total}, expected {total}\n"


@pytest.mark.parametrize("example, patch, error", [
    ("ftok_key.py", "import subprocess\n"
     "def fail(*args, **kwargs):\n    raise subprocess.CalledProcessError(1, args[0])\n"
     "subprocess.run = fail", "CalledProcessError"),
    ("pool_shared_memory.py", "import multiprocessing.pool\n"
     "def fail(*args):\n    raise RuntimeError('the pool failed')\n"
     "multiprocessing.pool.Pool.map = fail", "RuntimeError: the pool failed"),
], ids=["ftok_key.py", "pool_shared_memory.py"])
def test_a_failure_while_the_segment_is_in_use_leaves_nothing(example, patch, error):
    # The other side fails (the reader, the pool): the example removes its
    # segment (run_example() checks) and exits with the error.
    result = run_patched(example, patch)
    assert result.returncode == 1 and error in result.stderr


@pytest.mark.parametrize("example, patch", [
    ("ftok_key.py", "import subprocess as target; target.run = term"),
    ("pool_shared_memory.py", "import multiprocessing.pool as p; p.Pool.map = term"),
])
def test_sigterm_while_the_segment_is_in_use_leaves_nothing(example, patch):
    # SIGTERM arrives while the other process works (the reader runs, the pool
    # maps): the example removes its segment and exits 143, as killed by SIGTERM.
    result = run_patched(example, (
        "import signal\n"
        "def term(*args, **kwargs):\n"
        "    # raise(): to this thread, whose handler runs before raise_signal()\n"
        "    # returns (os.kill() may pick another thread of the process, and a\n"
        "    # pause() after it then waits for ever: CI hung so once on 3.12)\n"
        "    signal.raise_signal(signal.SIGTERM)\n"
        "    raise AssertionError('the SIGTERM handler did not raise')\n"
        f"{patch}"))
    assert result.returncode == 143, result.stderr
