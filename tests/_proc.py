"""Reading /proc/sysvipc/shm in tests, and telling our segments from anyone else's.

The machine is shared (tox runs environments in parallel), so "a segment appeared"
is not enough to blame a test: a segment is ours when this process created it, a
child of this process that is still running did, or a child process this run
started and registered with started() did (it may have exited since).
"""
import os
import subprocess
import sys
import textwrap

# Set by tox's sanitizers env: ASan replaces mlock() with a no-op and quarantines
# freed memory, so lock and RSS measurements mean nothing there.
SANITIZED = bool(os.environ.get("SYSVSHM_SANITIZERS"))


def rows():
    """Every segment in /proc/sysvipc/shm, as dicts of ints (perms parsed as octal)."""
    with open("/proc/sysvipc/shm") as f:
        header = next(f).split()
        return [{k: int(v, 8 if k == "perms" else 10) for k, v in zip(header, line.split())}
                for line in f if line.strip()]


def row(shmid):
    for r in rows():
        if r["shmid"] == shmid:
            return r
    return None


def _parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # gone


_children = set()


def started(pid):
    """Register a child process of this run that may create segments."""
    _children.add(pid)
    return pid


def ours(r, me=None):
    me = me or os.getpid()
    return r["cpid"] == me or r["cpid"] in _children or _parent_of(r["cpid"]) == me


def remove_if_there(shmid):
    """IPC_RMID, for a test's cleanup: the segment may be gone already."""
    import sysvshm

    try:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)
    except FileNotFoundError:
        pass


def status_kib(field):
    """A size field of /proc/self/status (VmRSS, VmLck, ...) in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def own_ids():
    """Ids of the segments this test process (or its children) created."""
    me = os.getpid()
    return {r["shmid"] for r in rows() if ours(r, me)}


def in_child(fn, *args, timeout=300):
    """Run fn(*args) in a forked child; fail here with its traceback if it fails.
    A child still running after timeout seconds is killed and the test fails,
    instead of hanging the run."""
    import select
    import signal
    import time
    import traceback

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        status = 0
        try:
            fn(*args)
        except BaseException:
            os.write(w, traceback.format_exc().encode())
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    deadline = time.monotonic() + timeout
    chunks = []
    with os.fdopen(r, "rb", buffering=0) as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([f], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                said = b"".join(chunks).decode(errors="replace")
                raise AssertionError(f"child still running after {timeout}s: killed\n{said}")
            chunk = f.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    report = b"".join(chunks).decode()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"child died by signal {os.WTERMSIG(status)}"
    assert os.WEXITSTATUS(status) == 0, report


CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000


def unshare(flags):
    """unshare(2) for this process (needs root): CLONE_NEWIPC gives it a new, empty
    IPC namespace; CLONE_NEWPID puts its next children in a new pid namespace."""
    if hasattr(os, "unshare"):
        os.unshare(flags)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def unshare_ipc():
    """Move this process into a new, empty IPC namespace (needs root)."""
    unshare(CLONE_NEWIPC)


_can_unshare = None


def can_unshare_ipc():
    """Whether a child may make a private IPC namespace: root with CAP_SYS_ADMIN,
    which a container (cibuildwheel's, say) usually withholds."""
    global _can_unshare
    if _can_unshare is None:
        pid = os.fork()
        if pid == 0:
            try:
                unshare_ipc()
            except BaseException:
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        _can_unshare = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return _can_unshare


def needs_ipc_namespace():
    """A skipif mark for tests that unshare the IPC namespace in a child."""
    import pytest

    return pytest.mark.skipif(not can_unshare_ipc(),
                              reason="cannot make a private IPC namespace (needs CAP_SYS_ADMIN)")


def run_process(method, target, *args, timeout=60):
    """Run target(*args) in a multiprocessing child; fail unless it exits with 0."""
    import multiprocessing

    import pytest

    p = multiprocessing.get_context(method).Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join()
        pytest.fail(f"child did not finish within {timeout}s")
    assert p.exitcode == 0, f"child exited with {p.exitcode} (negative: killed by a signal)"


def run_python(code, timeout=120):
    """Run code in a fresh interpreter from / (the installed build); return the result.
    Segments it creates count as this test's (started())."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd="/",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(code, proc.returncode, out, err)


def assert_exits_cleanly(code, timeout=120):
    """run_python(code), which must exit with 0 (not by a signal); its stdout."""
    result = run_python(code, timeout)
    assert result.returncode == 0, (
        f"exit status {result.returncode} (negative: killed by that signal)\n{result.stderr}")
    return result.stdout
