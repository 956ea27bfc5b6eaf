"""The sysvshm command, run as a subprocess the way a user runs it."""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys

import _proc
import pytest

import sysvshm


def run(*args, input=None, env=None):
    """python -m sysvshm ARGS, from a directory that is not the source tree."""
    with subprocess.Popen([sys.executable, "-m", "sysvshm", *args], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd="/", env=None if env is None else {**os.environ, **env}) as proc:
        _proc.started(proc.pid)  # its segments are this run's to clean up
        out, err = proc.communicate(input, timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def listed(result):
    """The segments of list --json or info --json output: {"sharedmemory": [...]}."""
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["sharedmemory"], document
    return document["sharedmemory"]


# Words of the Python API's errors that have no place in the command's.
API_WORDS = ("[Errno", "IPC_CREAT", "IPC_EXCL", "shmget", "shmat", "shmctl", "pass ", "mode=",
             "Traceback", "OSError", "Error:")


def assert_error_line(line):
    """The command's own wording: 'sysvshm: COMMAND: ...', none of the API's."""
    assert re.match(r"sysvshm: ((list|info|limits|rm|create|demo): )?\S", line), line
    assert not any(word in line for word in API_WORDS), line
    assert "error:" not in line, line  # no "sysvshm info: error: ..." of argparse's


def assert_one_line_error(result, status):
    assert result.returncode == status, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert_error_line(lines[0])
    return lines[0]


@pytest.fixture
def orphan():
    """A segment whose creator has exited and that nobody is attached to."""
    result = run("create", "--size", "8K")
    assert result.returncode == 0, result.stderr
    shmid = int(result.stdout)
    yield shmid
    try:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)
    except FileNotFoundError:
        pass


def test_help_everywhere():
    for sub in ("", "list", "info", "limits", "rm", "create", "demo"):
        result = run(*([sub] if sub else []), "--help")
        assert result.returncode == 0 and "usage: sysvshm" in result.stdout, sub


def test_no_subcommand_is_usage_error():
    line = assert_one_line_error(run(), 2)
    assert "required" in line


def test_list_json_matches_segments(seg):
    seg[:2] = b"ab"
    records = listed(run("list", "--json"))
    mine = [r for r in records if r["id"] == seg.shmid]
    assert len(mine) == 1
    st = seg.stat()
    for field in ("uid", "gid", "cuid", "cgid", "size", "cpid", "lpid", "nattch"):
        assert mine[0][field] == getattr(st, field), field
    assert mine[0]["rss"] == _proc.row(seg.shmid)["rss"]
    assert mine[0]["command"] and mine[0]["orphan"] is False
    assert mine[0]["key"] == "0x00000000" and mine[0]["perms"] == "0600"


def test_list_table(seg):
    out = run("list").stdout.splitlines()
    assert out[0].split()[:4] == ["KEY", "SHMID", "OWNER", "PERMS"]
    row = [line for line in out if line.split()[1] == str(seg.shmid)]
    assert len(row) == 1
    fields = row[0].split()
    assert fields[3] == "600" and fields[4] == "4.0K"


def test_list_orphans_and_mine(seg, orphan):
    orphans = {r["id"] for r in listed(run("list", "--orphans", "--json"))}
    assert orphan in orphans and seg.shmid not in orphans
    mine = {r["id"] for r in listed(run("list", "--mine", "--json"))}
    assert {orphan, seg.shmid} <= mine


def test_info(seg):
    result = run("info", str(seg.shmid))
    assert result.returncode == 0
    assert f"shmid: {seg.shmid}" in result.stdout and "size: 4096 (4.0K)" in result.stdout
    record, = listed(run("info", str(seg.shmid), "--json"))
    assert record["id"] == seg.shmid and record["nattch"] == 1


def test_limits_command():
    result = run("limits", "--json")
    assert result.returncode == 0
    got = json.loads(result.stdout)["limits"]
    assert got == sysvshm.limits()._replace(
        used_ids=got["used_ids"], shm_tot=got["shm_tot"], shm_rss=got["shm_rss"])._asdict()
    assert "shmmni" in run("limits").stdout


def _limits_text_in_namespace(shmmax, shmall):
    import contextlib
    import io

    from sysvshm import _cli

    _proc.unshare_ipc()
    with open("/proc/sys/kernel/shmmax", "w") as f:
        f.write(str(shmmax))
    with open("/proc/sys/kernel/shmall", "w") as f:
        f.write(str(shmall))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert _cli.main(["limits"]) == 0
    text = out.getvalue()
    if shmmax >= 1 << 62:
        assert "shmmax: unlimited   largest segment" in text, text
        assert "shmall: unlimited   most memory in segments" in text, text
    else:
        assert f"shmmax: {shmmax} bytes (1.0M)   largest segment" in text, text
        assert "shmall: 1 page (4.0K)   most memory in segments" in text, text
    assert "shmmin: 1 byte   smallest segment" in text, text  # not "1 bytes"
    assert "used: 0 segments, 0 pages (0B)" in text, text


@pytest.mark.root
@pytest.mark.skipif(not _proc.can_unshare_ipc(), reason="needs a private IPC namespace")
@pytest.mark.parametrize("shmmax, shmall", [(2**64 - 2**24 - 1, 2**64 - 2**24 - 1),
                                            (1 << 20, 1)])
def test_limits_print_unlimited_and_singular_units(shmmax, shmall):
    _proc.in_child(_limits_text_in_namespace, shmmax, shmall)


def test_create_and_rm(free_key):
    result = run("create", "--size", "64K", "--key", hex(free_key), "--mode", "640")
    assert result.returncode == 0, result.stderr
    shmid = int(result.stdout)
    st = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
    assert (st.size, st.mode, st.key) == (65536, 0o640, free_key)
    line = assert_one_line_error(run("create", "--size", "1K", "--key", hex(free_key)), 1)
    assert "already exists" in line
    result = run("rm", "--key", hex(free_key))
    assert result.returncode == 0 and f"removed segment {shmid}" in result.stdout
    with pytest.raises(FileNotFoundError):
        sysvshm.shmctl(shmid, sysvshm.IPC_STAT)


def test_rm_by_id(orphan):
    result = run("rm", str(orphan))
    assert result.returncode == 0 and f"removed segment {orphan}" in result.stdout
    with pytest.raises(FileNotFoundError):
        sysvshm.shmctl(orphan, sysvshm.IPC_STAT)


def capture(*args):
    """The command's main() in this process, with stdout and stderr captured."""
    import contextlib
    import io

    from sysvshm import _cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _cli.main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _rm_orphans_in_private_namespace():
    # --orphans acts on the whole machine, so this runs in an IPC namespace of
    # its own: the machine's real orphans are never touched by the tests.
    _proc.unshare_ipc()
    orphan = sysvshm.shmget(sysvshm.IPC_PRIVATE, 8192, 0o600)  # our own: not an orphan
    kept = sysvshm.shm(size=4096)  # attached: never an orphan
    sysvshm.shmctl(orphan, sysvshm.IPC_RMID)
    # Orphans need a creator that is gone: create them from a child that exits.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ids = [sysvshm.shmget(sysvshm.IPC_PRIVATE, 8192, 0o600) for _ in range(2)]
        os.write(w, (" ".join(map(str, ids))).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    orphan, late = map(int, os.read(r, 100).split())
    found = {r["id"] for r in listed(capture("list", "--orphans", "--json"))}
    assert found == {orphan, late}
    dry = capture("rm", "--orphans", "--dry-run")
    assert dry.returncode == 0 and f"would remove segment {orphan}" in dry.stdout
    sysvshm.shmctl(orphan, sysvshm.IPC_STAT)  # still there
    refused = capture("rm", "--orphans")  # stdin is not a terminal here
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert_error_line(refused.stderr.rstrip("\n"))
    attached_late = sysvshm.shmat(late)  # attached since: no longer an orphan
    result = capture("rm", "--orphans", "--yes")
    assert result.returncode == 0, result.stderr
    assert f"removed segment {orphan}" in result.stdout
    assert str(kept.shmid) not in result.stdout and str(late) not in result.stdout
    assert not kept.stat().removed and not attached_late.stat().removed
    assert [st.shmid for st in sysvshm.segments()] == sorted([kept.shmid, late])


@_proc.needs_ipc_namespace()
def test_rm_orphans_never_touches_attached():
    _proc.in_child(_rm_orphans_in_private_namespace)


_can_unshare_pid = None


def can_unshare_pid():
    """Whether a child may make private IPC and pid namespaces (its child is pid 1)."""
    global _can_unshare_pid
    if _can_unshare_pid is None:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                _proc.unshare_ipc()
                _proc.unshare(_proc.CLONE_NEWPID)
                child = os.fork()
                if child == 0:
                    os._exit(0 if os.getpid() == 1 else 1)
                status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        _can_unshare_pid = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return _can_unshare_pid


def _orphans_seen_from_another_pid_namespace(never, used):
    # pid 1 of a new pid namespace: the creator of never and used (our parent,
    # alive) is in the namespace above, which this one cannot see: cpid 0, lpid 0.
    assert os.getpid() == 1
    segs = {st.shmid: st for st in sysvshm.segments()}
    assert (segs[never].cpid, segs[never].lpid, segs[never].nattch) == (0, 0, 0)
    assert (segs[used].cpid, segs[used].lpid, segs[used].nattch) == (0, 0, 0)
    assert segs[used].atime and segs[never].key == segs[used].key == sysvshm.IPC_PRIVATE
    # A real orphan as this namespace sees it: made by a child that has exited.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, str(sysvshm.shmget(sysvshm.IPC_PRIVATE, 4096, 0o600)).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    control = int(os.read(r, 100))
    found = {r["id"] for r in listed(capture("list", "--orphans", "--json"))}
    assert found == {control}
    records = {r["id"]: r for r in listed(capture("list", "--json"))}
    assert records[used]["orphan"] is False and records[never]["orphan"] is False
    info = capture("info", str(used)).stdout
    assert "cpid: 0 (unknown)" in info and "orphan: no" in info
    result = capture("rm", "--orphans", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"removed segment {control} (key 0x00000000, 4.0K)\n"
    assert [st.shmid for st in sysvshm.segments()] == sorted([never, used])


def _cpid_0_is_never_an_orphan():
    _proc.unshare_ipc()  # rm --orphans acts on the whole (here: private) IPC namespace
    # This process creates two unkeyed segments, detaches and stays alive.
    never = sysvshm.shmget(sysvshm.IPC_PRIVATE, 8192, 0o600)  # never attached
    used = sysvshm.shmget(sysvshm.IPC_PRIVATE, 8192, 0o600)
    sysvshm.shmat(used).close()
    _proc.unshare(_proc.CLONE_NEWPID)
    try:
        _proc.in_child(_orphans_seen_from_another_pid_namespace, never, used)
        for shmid in (never, used):
            st = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
            assert not st.removed and st.cpid == os.getpid()
    finally:
        for shmid in (never, used):
            sysvshm.shmctl(shmid, sysvshm.IPC_RMID)


@pytest.mark.skipif(not can_unshare_pid(),
                    reason="cannot make private IPC and pid namespaces (needs CAP_SYS_ADMIN)")
def test_rm_orphans_spares_segments_of_unseen_processes():
    """pid 0 (a process in a pid namespace the caller cannot see) is unknown, never gone."""
    _proc.in_child(_cpid_0_is_never_an_orphan)


def removed_only_with_keyed(shmid, before):
    """`rm --orphans` spares the keyed orphan *shmid*, whose /proc row it leaves as
    *before* (looked at, never attached); `rm --orphans --keyed` removes it.
    The second command's stdout."""
    result = capture("rm", "--orphans", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no orphaned segments\n"
    assert not sysvshm.shmctl(shmid, sysvshm.IPC_STAT).removed
    assert _proc.row(shmid) == before
    result = capture("rm", "--orphans", "--keyed", "--yes")
    assert result.returncode == 0, result.stderr
    with pytest.raises(FileNotFoundError):
        sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
    return result.stdout


def _keyed_only_with_keyed():
    _proc.unshare_ipc()
    key = 0x5EC0FFEE
    result = run("create", "--size", "8K", "--key", hex(key))  # its creator has exited
    assert result.returncode == 0, result.stderr
    shmid = int(result.stdout)
    try:
        st = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
        assert st.key == key and st.nattch == 0
        before = _proc.row(shmid)
        assert listed(capture("list", "--orphans", "--json")) == []
        assert listed(capture("list", "--json"))[0]["orphan"] is False
        keyed = listed(capture("list", "--orphans", "--keyed", "--json"))
        assert [(r["id"], r["orphan"]) for r in keyed] == [(shmid, True)]
        assert "orphan: no (keyed" in capture("info", str(shmid)).stdout
        assert removed_only_with_keyed(shmid, before) == \
            f"removed segment {shmid} (key {hex(key)}, 8.0K)\n"
    finally:
        _proc.remove_if_there(shmid)


@_proc.needs_ipc_namespace()
def test_rm_orphans_keeps_keyed_segments_unless_keyed():
    _proc.in_child(_keyed_only_with_keyed)


def test_orphan_rule_in_help():
    for sub in ("list", "rm"):
        out = " ".join(run(sub, "--help").stdout.split())
        assert "--keyed" in out and "IPC_PRIVATE" in out and "pid 0" in out, sub
        assert "last user (lpid)" in out and "never an orphan" in out, sub


def test_rm_segment_removed_meanwhile(orphan):
    sysvshm.shmctl(orphan, sysvshm.IPC_RMID)
    line = assert_one_line_error(run("rm", str(orphan)), 1)
    assert line == f"sysvshm: rm: no segment with id {orphan}"


def test_rm_nothing():
    assert "nothing to remove" in assert_one_line_error(run("rm"), 2)


@pytest.mark.parametrize("args,status,needle", [
    (("info", "999999999"), 1, "no segment with id"),
    (("info", "abc"), 2, "invalid segment id"),
    (("info", "-5"), 2, "invalid segment id"),
    (("rm", "--key", "abc"), 2, "invalid key"),
    (("rm", "--key", "0x1ffffffff"), 2, "32 bits"),
    (("rm", "--key", "0x7a7a7a7a"), 1, "sysvshm: rm: no segment with key 0x7a7a7a7a"),
    (("rm", "999999999"), 1, "no segment with id"),
    (("create", "--size", "12Q"), 2, "invalid size"),
    (("create", "--size", "0"), 2, "greater than 0"),
    (("create", "--size=-4K"), 2, "invalid size"),
    (("create"), 2, "--size"),
    (("create", "--size", "1K", "--mode", "999"), 2, "invalid mode"),
    (("create", "--size", "1K", "--mode", "1777"), 2, "invalid mode"),
    (("bogus",), 2, "unknown command 'bogus'"),
])
def test_bad_input_is_one_line(args, status, needle):
    if isinstance(args, str):
        args = (args,)
    line = assert_one_line_error(run(*args), status)
    assert needle in line


@pytest.mark.parametrize("args,status,needle", [
    (("create", "--size", "9999999T"), 2, "too large"),
    (("create", "--size", str(2**64)), 2, "too large"),
    (("create", "--size", "8192P"), 2, str(sys.maxsize)),
    (("create", "--size", "9" * 5000), 2, "too large"),
    (("create", "--size", "\u0663K"), 2, "invalid size"),
    (("create", "--size", "1K", "--mode", "\u0667\u0667\u0667"), 2, "invalid mode"),
    (("create", "--size", "1K", "--key", "9" * 5000), 2, "32 bits"),
    (("info", "\u0663"), 2, "invalid segment id"),
    (("info", "9" * 5000), 2, "out of range"),
    (("rm", "--key", "0"), 2, "key 0 (IPC_PRIVATE) cannot be removed by key; use its id"),
    (("rm", "--key", "0x00000000"), 2, "IPC_PRIVATE"),
    (("rm", "--keyed"), 2, "--keyed only applies to --orphans"),
])
def test_more_bad_input_is_one_line(args, status, needle):
    line = assert_one_line_error(run(*args), status)
    assert needle in line and len(line) < 300


def test_create_unallocatable_size_names_it():
    result = run("create", "--size", "1P")
    if result.returncode == 0:  # vm.overcommit_memory=1 lets it through
        sysvshm.shmctl(int(result.stdout), sysvshm.IPC_RMID)
        pytest.skip("this kernel allocates a 1 PiB segment")
    line = assert_one_line_error(result, 1)
    assert "1.0P (1125899906842624 bytes)" in line


def _create_above_shmmax():
    _proc.unshare_ipc()  # kernel.shmmax is per IPC namespace
    with open("/proc/sys/kernel/shmmax", "w") as f:
        f.write(str(1 << 20))
    line = assert_one_line_error(capture("create", "--size", "2M"), 1)
    assert "2.0M (2097152 bytes)" in line and "kernel.shmmax=1048576" in line


@_proc.needs_ipc_namespace()
def test_create_above_shmmax_names_size_and_limit():
    _proc.in_child(_create_above_shmmax)


def test_create_key_0_is_ipc_private():
    result = run("create", "--size", "8K", "--key", "0")
    assert result.returncode == 0, result.stderr
    shmid = int(result.stdout)
    try:
        assert sysvshm.shmctl(shmid, sysvshm.IPC_STAT).key == sysvshm.IPC_PRIVATE
    finally:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)


def test_rm_missing_ids_one_line_each():
    result = run("rm", "2147483646", "2147483647")
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines == ["sysvshm: rm: no segment with id 2147483646",
                     "sysvshm: rm: no segment with id 2147483647"]


def test_rm_same_segment_twice(orphan):
    result = run("rm", str(orphan), str(orphan))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"removed segment {orphan}") == 1


def test_confirm_eof_is_no(monkeypatch):
    from sysvshm import _cli

    class Terminal:
        def isatty(self):
            return True

    def eof(prompt):
        raise EOFError

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", eof)
    assert _cli._confirm("remove?") is False


def test_closed_stdout_is_quiet():
    with subprocess.Popen([sys.executable, "-m", "sysvshm", "limits"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd="/") as proc:
        proc.stdout.close()  # the reader is gone (sysvshm limits | head -0)
        err = proc.stderr.read()
    assert proc.returncode in (0, 1) and err == ""


def test_create_too_big_names_the_limit():
    lim = sysvshm.limits()
    if lim.shmmax >= 2**62:
        pytest.skip("shmmax is unlimited here (the namespace tests cover this)")
    line = assert_one_line_error(run("create", "--size", str(lim.shmmax + 1)), 1)
    assert "shmmax" in line


def run_as_nobody(*args):
    """The command's main() in a forked child running as uid/gid nobody (who may not
    execute root's interpreter), with its output captured."""
    import tempfile

    from sysvshm import _cli

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        pid = os.fork()
        if pid == 0:
            code = 99
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                sys.stdout = os.fdopen(1, "w")
                sys.stderr = os.fdopen(2, "w")
                code = _cli.main(list(args))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, os.waitstatus_to_exitcode(status),
                                           out.read(), err.read())


@pytest.mark.root
def test_rm_of_another_users_segment_is_refused(seg, orphan):
    result = run_as_nobody("rm", str(seg.shmid))
    line = assert_one_line_error(result, 1)
    assert f"segment {seg.shmid}" in line and "not permitted" in line
    assert not seg.stat().removed
    result = run_as_nobody("rm", str(orphan), "--key", "0x7a7a7a7b")
    assert result.returncode == 1 and f"segment {orphan}" in result.stderr
    assert not sysvshm.shmctl(orphan, sysvshm.IPC_STAT).removed


def test_demo_leaves_nothing_behind():
    before = _proc.own_ids()
    result = run("demo")
    assert result.returncode == 0, result.stderr
    assert "hello from the child!" in result.stdout
    assert "hello from the parent!" in result.stdout
    assert _proc.own_ids() == before


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "sysvshm")
    if not os.path.exists(script):
        pytest.skip("console script not next to this interpreter")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"sysvshm {sysvshm.__version__}"


def _abandoned_blocks_go_with_keyed_and_nothing_is_attached():
    from sysvshm import _blocks

    _proc.unshare_ipc()
    made = subprocess.run(
        [sys.executable, "-c", "from sysvshm import shared_memory as s\n"
         "b = s.SharedMemory(create=True, size=100)\nprint(b._shmid)"],
        cwd="/", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    block = int(made.stdout)  # a tracked block whose only user has exited
    try:
        st = sysvshm.shmctl(block, sysvshm.IPC_STAT)
        assert _blocks.abandoned(st) and st.key != 0
        before = _proc.row(block)
        assert listed(capture("list", "--orphans", "--json")) == []
        assert f"removed segment {block}" in removed_only_with_keyed(block, before)
    finally:
        _proc.remove_if_there(block)


@_proc.needs_ipc_namespace()
def test_rm_orphans_keyed_removes_abandoned_blocks_without_attaching_anything():
    _proc.in_child(_abandoned_blocks_go_with_keyed_and_nothing_is_attached)


@pytest.fixture
def multiline_creator():
    """A live process started as python -c "...\n...", whose command line has
    newlines and an escape sequence, and the id of the segment it created."""
    code = ("import sysvshm, sys\nseg = sysvshm.shm(size=4096)\nprint(seg.shmid, flush=True)\n"
            "sys.stdin.read()\nseg.remove()\nx = '\x1b[2J" + "long" * 40 + "'")
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, cwd="/") as proc:
        _proc.started(proc.pid)
        try:
            yield int(proc.stdout.readline()), f"{sys.executable} -c {code}"
        finally:
            proc.communicate("")


def test_list_table_stays_one_line_per_segment_whatever_the_command(multiline_creator):
    shmid, _ = multiline_creator
    out = run("list", env={"COLUMNS": "1000"}).stdout.splitlines()
    rows = [line for line in out if line.split()[1:2] == [str(shmid)]]
    assert len(rows) == 1 and "\x1b" not in rows[0], rows
    assert "import sysvshm, sys\\x0aseg = sysvshm.shm(size=4096)\\x0a" in rows[0]
    assert "\\x1b[2J" in rows[0] and rows[0].endswith("longlong'")  # not cut: room enough
    assert all(len(line.split()) >= 9 for line in out[1:])


def test_list_cuts_the_command_to_the_width_left(multiline_creator):
    from sysvshm import _cli_render as _cli

    shmid, command = multiline_creator
    out = run("list", env={"COLUMNS": "150"}).stdout.splitlines()
    row, = [line for line in out if line.split()[1:2] == [str(shmid)]]
    command_starts = out[0].index("COMMAND")
    assert row[command_starts:] == _cli._printable(command)[:150 - command_starts - 3] + "..."
    assert len(row) == 150 and all(len(line) <= 150 for line in out), out


def test_info_shows_the_command_on_one_line(multiline_creator):
    shmid, _ = multiline_creator
    result = run("info", str(shmid))
    assert result.returncode == 0, result.stderr
    cpid, = [line for line in result.stdout.splitlines() if line.strip().startswith("cpid:")]
    assert "import sysvshm, sys\\x0aseg" in cpid and "\\x1b[2J" in cpid
    assert "\x1b" not in result.stdout and "\nseg =" not in result.stdout
    # JSON carries the command line as it is: JSON escapes it.
    record, = listed(run("info", str(shmid), "--json"))
    assert "import sysvshm, sys\nseg = sysvshm.shm(size=4096)\n" in record["command"]


def test_printable_escapes_every_control_character():
    from sysvshm import _cli_render as _cli

    assert _cli._printable("a\nb\tc\x7f\u2028d\U000e0001") == \
        "a\\x0ab\\x09c\\x7f\\u2028d\\U000e0001"
    assert _cli._printable("caf\u00e9 \u4e2d") == "caf\u00e9 \u4e2d"  # printable stays


# -- every error path: exit status as --help says, the command's own one line ----------

def test_help_states_the_exit_statuses():
    out = " ".join(run("--help").stdout.split())
    assert "0 on success, 1 when an operation failed, 2 for bad usage, 130 when interrupted" \
        in out


@pytest.mark.parametrize("args,line", [
    (("list", "--bogus"),
     "sysvshm: list: unrecognized arguments: --bogus (see sysvshm list --help)"),
    (("list", "extra"), "sysvshm: list: unrecognized arguments: extra (see sysvshm list --help)"),
    (("info",), "sysvshm: info: the following arguments are required: id "
                "(see sysvshm info --help)"),
    (("info", "abc"), "sysvshm: info: invalid segment id 'abc': not a number "
                      "(see sysvshm info --help)"),
    (("info", "1", "2"), "sysvshm: info: unrecognized arguments: 2 (see sysvshm info --help)"),
    (("limits", "--bytes", "x"),
     "sysvshm: limits: unrecognized arguments: x (see sysvshm limits --help)"),
    (("rm",), "sysvshm: rm: nothing to remove: give segment ids, --key or --orphans "
              "(see sysvshm rm --help)"),
    (("rm", "--keyed"), "sysvshm: rm: --keyed only applies to --orphans (see sysvshm rm --help)"),
    (("rm", "--key", "zz"), "sysvshm: rm: --key: invalid key 'zz': not a number "
                            "(see sysvshm rm --help)"),
    (("create", "--size", "4K", "--noreserve=1"),
     "sysvshm: create: --noreserve: ignored explicit argument '1' (see sysvshm create --help)"),
    (("demo", "--start-method", "nope"), None),
    (("bogus",), None),
    ((), "sysvshm: the following arguments are required: COMMAND (see sysvshm --help)"),
])
def test_usage_errors_exit_2_in_the_commands_words(args, line):
    got = assert_one_line_error(run(*args), 2)
    if line is not None:
        assert got == line
    elif args[0] == "bogus":
        assert got.startswith("sysvshm: unknown command 'bogus' (choose from ")
    else:
        assert got.startswith("sysvshm: demo: --start-method: invalid choice: 'nope'")


def test_operation_errors_exit_1_in_the_commands_words(free_key):
    assert assert_one_line_error(run("info", "2147483647"), 1) == \
        "sysvshm: info: no segment with id 2147483647"
    result = run("create", "--size", "4K", "--key", hex(free_key))
    assert result.returncode == 0, result.stderr
    assert assert_one_line_error(run("create", "--size", "4K", "--key", hex(free_key)), 1) == \
        f"sysvshm: create: a segment with key 0x{free_key:08x} already exists"
    assert assert_one_line_error(run("rm", "--key", "0x7a7a7a7a"), 1) == \
        "sysvshm: rm: no segment with key 0x7a7a7a7a"


@pytest.mark.parametrize("command,fn,line", [
    ("list", "segments",
     "sysvshm: list: cannot read the segment table: permission denied: /proc/sysvipc/shm"),
    ("info", "segments",
     "sysvshm: info: cannot read the segment table: permission denied: /proc/sysvipc/shm"),
    ("limits", "limits",
     "sysvshm: limits: cannot read the system limits: permission denied: /proc/sysvipc/shm"),
])
def test_system_errors_are_worded_without_errno(monkeypatch, command, fn, line):
    def refuse():
        raise PermissionError(13, "Permission denied", "/proc/sysvipc/shm")

    monkeypatch.setattr(sysvshm, fn, refuse)
    args = (command, "1") if command == "info" else (command,)
    assert assert_one_line_error(capture(*args), 1) == line


def test_rm_permission_error_is_worded_without_errno(monkeypatch, seg):
    # The library's own message (advice for Python callers) never reaches the user.
    def refuse(shmid=None, key=None):
        raise PermissionError(1, "Operation not permitted: only the owner, the creator or a "
                                 "privileged process may IPC_RMID segment 5")

    monkeypatch.setattr(sysvshm, "remove", refuse)
    line = assert_one_line_error(capture("rm", str(seg.shmid)), 1)
    assert not seg.stat().removed
    assert line == (f"sysvshm: rm: segment {seg.shmid}: not permitted: only its owner, its "
                    f"creator or root may remove it")


def _out_of_segment_ids():
    _proc.unshare_ipc()  # kernel.shmmni is per IPC namespace
    with open("/proc/sys/kernel/shmmni", "w") as f:
        f.write("0")
    line = assert_one_line_error(capture("create", "--size", "4K"), 1)
    assert line.startswith("sysvshm: create: cannot create a segment of 4.0K (4096 bytes): "
                           "no space left on device: all shmmni=0 segment ids are in use"), line
    line = assert_one_line_error(capture("demo", "--start-method", "fork"), 1)
    assert line.startswith("sysvshm: demo: cannot create a 16 MiB segment: no space left on "
                           "device: all shmmni=0 segment ids are in use"), line


@_proc.needs_ipc_namespace()
def test_create_and_demo_without_free_ids_name_the_limit():
    _proc.in_child(_out_of_segment_ids)


def _demo_child_dies(monkeypatch):
    from sysvshm import _cli

    def die(shmid, conn):
        os._exit(3)

    monkeypatch.setattr(_cli, "_demo_child", die)
    result = capture("demo", "--start-method", "fork")
    line = assert_one_line_error(result, 1)
    assert re.fullmatch(r"sysvshm: demo: the child process \(pid \d+\) failed, exit status 3",
                        line), line


def test_demo_child_failure_is_one_line_and_leaves_nothing(monkeypatch):
    before = _proc.own_ids()
    _demo_child_dies(monkeypatch)
    assert _proc.own_ids() == before


# -- --bytes -------------------------------------------------------------------------

def test_bytes_prints_exact_sizes(make_shm):
    seg = make_shm(5000)  # 4.9K in human form
    human_row, = [line.split() for line in run("list").stdout.splitlines()
                  if line.split()[1:2] == [str(seg.shmid)]]
    exact_row, = [line.split() for line in run("list", "-b").stdout.splitlines()
                  if line.split()[1:2] == [str(seg.shmid)]]
    assert (human_row[4], exact_row[4]) == ("4.9K", "5000")
    assert exact_row[5] == str(_proc.row(seg.shmid)["rss"])
    assert "size: 5000 (4.9K)" in run("info", str(seg.shmid)).stdout
    exact = run("info", "--bytes", str(seg.shmid)).stdout
    assert "size: 5000\n" in exact and f"rss: {_proc.row(seg.shmid)['rss']}\n" in exact
    assert listed(run("list", "-b", "--json")) and \
        [r["size"] for r in listed(run("info", "-b", "--json", str(seg.shmid)))] == [5000]


def _limits_bytes_in_namespace():
    _proc.unshare_ipc()
    with open("/proc/sys/kernel/shmmax", "w") as f:
        f.write(str(1 << 20))
    shmid = sysvshm.shmget(sysvshm.IPC_PRIVATE, 8192, 0o600)
    try:
        human_text = capture("limits").stdout
        text = capture("limits", "--bytes").stdout
    finally:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)
    page = sysvshm.limits().pagesize
    assert "shmmax: 1048576 bytes (1.0M)   largest segment" in human_text, human_text
    assert "shmmax: 1048576 bytes   largest segment" in text, text
    pages = 8192 // page
    assert f"used: 1 segment, {pages} pages (8.0K)   in use now" in human_text
    assert f"used: 1 segment, {pages} pages (8192 bytes)   in use now" in text, text
    soft = sysvshm.limits().memlock_soft
    if soft is not None:
        assert f"memlock: {soft} bytes" in text, text


@_proc.needs_ipc_namespace()
def test_limits_bytes_prints_exact_sizes():
    _proc.in_child(_limits_bytes_in_namespace)


# -- --json: lsipc -m --json's shape -------------------------------------------------

LSIPC_KEYS = ["key", "id", "perms", "owner", "uid", "user", "gid", "group", "cuid", "cuser",
              "cgid", "cgroup", "size", "nattch", "status", "attach", "detach", "ctime",
              "cpid", "lpid", "command"]


def test_list_json_has_lsipcs_shape(make_shm, free_key):
    seg = make_shm(4096, key=0xF0000000 | (free_key & 0xFFFF), mode=0o640,
                   flags=sysvshm.IPC_CREAT | sysvshm.IPC_EXCL)
    record, = [r for r in listed(run("list", "--json")) if r["id"] == seg.shmid]
    assert list(record)[:len(LSIPC_KEYS)] == LSIPC_KEYS
    assert list(record)[len(LSIPC_KEYS):] == ["rss", "swap", "removed", "locked", "orphan",
                                              "name", "array"]
    st = seg.stat()
    assert st.key < 0  # a key with the top bit set is negative as a C key_t
    assert record["key"] == f"0x{st.key & 0xFFFFFFFF:08x}" and record["key"].startswith("0xf")
    assert record["perms"] == "0640" and record["status"] is None
    assert record["owner"] == record["user"] == "root" and record["group"] == "root"
    # Python 3.9's subprocess forks, and a fork inherits this process's attach,
    # which sets lpid and the attach and detach times: only their shape is fixed.
    assert record["attach"] and record["lpid"] > 0
    assert record["detach"] is None or record["detach"] >= record["attach"]
    assert record["ctime"] == datetime.datetime.fromtimestamp(st.ctime).astimezone().isoformat()
    assert record["size"] == 4096 and record["nattch"] == 1 and record["cpid"] == os.getpid()
    seg.remove()
    record, = [r for r in listed(run("list", "--json")) if r["id"] == seg.shmid]
    assert record["status"] == "dest" and record["removed"] is True
    info, = listed(run("info", str(seg.shmid), "--json"))
    volatile = ("lpid", "attach", "detach")  # see above
    assert {k: v for k, v in info.items() if k not in volatile} == {
        k: v for k, v in record.items() if k not in volatile}


@pytest.mark.skipif(not shutil.which("lsipc"), reason="no lsipc (util-linux)")
def test_list_json_agrees_with_lsipc(make_shm):
    seg = make_shm(8192, mode=0o604)
    # Detached here (the fixture removes it), so that no child inherits an attach:
    # Python 3.9's subprocess forks, which would change lpid between the two reads.
    seg.close()
    theirs = subprocess.run(["lsipc", "-m", "--json", "-b", "--numeric-perms", "--time-format=iso",
                             "-o", ",".join(LSIPC_KEYS[:-1]), "--id", str(seg.shmid)],
                            capture_output=True, text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    document = json.loads(theirs.stdout)
    assert list(document) == ["sharedmemory"]
    lsipc, = document["sharedmemory"]
    ours, = [r for r in listed(run("list", "--json")) if r["id"] == seg.shmid]
    for name, value in lsipc.items():  # lsipc 2.38 prints numbers as strings
        mine = ours[name]
        assert (mine if mine is None or isinstance(mine, str) else str(mine)) == value, name


def test_limits_json_has_lsipcs_shape():
    document = json.loads(run("limits", "--json").stdout)
    assert list(document) == ["ipclimits", "limits"]
    rows = {row["resource"]: row for row in document["ipclimits"]}
    assert list(rows) == ["SHMMNI", "SHMALL", "SHMMAX", "SHMMIN", "SHMSEG"]
    lim = sysvshm.limits()
    assert rows["SHMMNI"]["limit"] == lim.shmmni and rows["SHMMAX"]["limit"] == lim.shmmax
    assert rows["SHMMNI"]["use%"] == f"{rows['SHMMNI']['used'] / lim.shmmni * 100:.2f}%"
    assert rows["SHMMAX"]["used"] is None and rows["SHMMAX"]["use%"] is None
    assert all(list(row) == ["resource", "description", "limit", "used", "use%"]
               for row in rows.values())
    assert list(document["limits"]) == list(lim._fields)


# -- create --noreserve ----------------------------------------------------------------

def _noreserve_beyond_memory():
    _proc.unshare_ipc()  # the segment goes with the namespace whatever happens
    size = "1P"  # far beyond this machine's memory and swap
    plain = assert_one_line_error(capture("create", "--size", size), 1)
    assert plain == ("sysvshm: create: cannot create a segment of 1.0P (1125899906842624 "
                     "bytes): not enough memory (--noreserve creates it without reserving swap)")
    result = capture("create", "--size", size, "--noreserve")
    assert result.returncode == 0, result.stderr
    shmid = int(result.stdout)
    try:
        assert sysvshm.shmctl(shmid, sysvshm.IPC_STAT).size == 1 << 50
    finally:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)


@_proc.needs_ipc_namespace()
def test_create_noreserve_reserves_no_swap():
    with open("/proc/sys/vm/overcommit_memory") as f:
        heuristic = f.read().strip() == "0"
    if not heuristic:
        pytest.skip("needs the heuristic overcommit mode (vm.overcommit_memory=0)")
    _proc.in_child(_noreserve_beyond_memory)


def test_create_noreserve_passes_shm_noreserve(monkeypatch):
    seen = []
    real = sysvshm.shmget

    def shmget(key, size=0, flags=0):
        seen.append(flags)
        return real(key, size, flags)

    monkeypatch.setattr(sysvshm, "shmget", shmget)
    for args in (("--noreserve",), ()):
        result = capture("create", "--size", "4K", *args)
        assert result.returncode == 0, result.stderr
        sysvshm.shmctl(int(result.stdout), sysvshm.IPC_RMID)
    assert seen[0] & sysvshm.SHM_NORESERVE and not seen[1] & sysvshm.SHM_NORESERVE
    assert seen[0] & 0o777 == 0o600


# -- review: hostile names, closed pipes, races -------------------------------------

def _zombie_with_a_name_that_is_not_utf8():
    # A process may name itself any bytes (prctl PR_SET_NAME); once it exits
    # unreaped (a zombie), /proc shows only that name, no command line.
    import ctypes

    _proc.unshare_ipc()
    libc = ctypes.CDLL(None, use_errno=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc.prctl(15, ctypes.c_char_p(b"\xff\xfebad"), 0, 0, 0)  # PR_SET_NAME
        shmid = sysvshm.shmget(sysvshm.IPC_PRIVATE, 4096, sysvshm.IPC_CREAT | 0o600)
        os.write(w, str(shmid).encode())
        os._exit(0)
    os.close(w)
    shmid = int(os.read(r, 100))
    for _ in range(200):  # until it is a zombie
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                break
        import time
        time.sleep(0.01)
    table = capture("list")
    assert table.returncode == 0, table.stderr
    line, = [x for x in table.stdout.splitlines() if f" {shmid} " in x]
    assert line.endswith("[\ufffd\ufffdbad]")
    assert listed(capture("list", "--json"))[0]["command"] == "[\ufffd\ufffdbad]"
    info = capture("info", str(shmid))
    assert info.returncode == 0 and "bad" in info.stdout, info.stderr
    os.waitpid(pid, 0)


@_proc.needs_ipc_namespace()
def test_a_zombie_named_in_any_bytes_does_not_break_list_or_info():
    _proc.in_child(_zombie_with_a_name_that_is_not_utf8)


def _rm_orphans_into_a_closed_pipe():
    _proc.unshare_ipc()
    pid = os.fork()
    if pid == 0:  # 300 orphans: created by a process that is gone
        for _ in range(300):
            sysvshm.shmget(sysvshm.IPC_PRIVATE, 4096, sysvshm.IPC_CREAT | 0o600)
        os._exit(0)
    os.waitpid(pid, 0)
    assert len(sysvshm.segments()) == 300
    # The reader takes one line and goes: every orphan is still removed.
    out = subprocess.run(f"{sys.executable} -m sysvshm rm --orphans --yes | head -1",
                         shell=True, capture_output=True, text=True, cwd="/", timeout=120)
    assert out.stdout.startswith("removed segment") and out.stderr == "", out
    assert sysvshm.segments() == []


@_proc.needs_ipc_namespace()
def test_rm_orphans_finishes_when_its_reader_goes_away():
    _proc.in_child(_rm_orphans_into_a_closed_pipe)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["list", "--help"]])
def test_help_into_a_closed_pipe_is_quiet(args):
    out = subprocess.run(
        f"{sys.executable} -m sysvshm {' '.join(args)} | (exec 0<&-; sleep 0.5)",
        shell=True, capture_output=True, text=True, cwd="/", timeout=60)
    assert out.stderr == "", out.stderr


def test_a_stray_word_before_the_command_is_the_commands_usage_error():
    line = assert_one_line_error(run("--bogus", "list"), 2)
    assert line.startswith("sysvshm: unrecognized arguments: --bogus")
    assert "see sysvshm --help" in line
    line = assert_one_line_error(run("list", "--bogus"), 2)
    assert line.startswith("sysvshm: list: unrecognized arguments: --bogus")


def test_wide_characters_are_cut_by_terminal_columns():
    from sysvshm._cli_render import _cells, _cut

    text = "python -c " + "漢字" * 30
    cut = _cut(text, 40)
    assert sum(map(_cells, cut)) <= 40 and cut.endswith("...")
    assert _cut("e\u0301" * 10, 10) == "e\u0301" * 10  # combining marks take no column
    assert _cut("abc", 3) == "abc" and _cut("abcd", 3) == "..."


def test_an_orphan_removed_meanwhile_is_not_a_failure(orphan):
    # Another cleaner removed it between the listing and the removal.
    import argparse

    from sysvshm import _cli

    sysvshm.shmctl(orphan, sysvshm.IPC_RMID)
    args = argparse.Namespace(orphans=True, explicit=set(), key_of={}, keyed=False,
                              dry_run=False)
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert _cli._remove_one(orphan, args) is True
        args.orphans = False  # named by id or key: gone is a failure, said by its name
        args.key_of = {orphan: 0x1234}
        assert _cli._remove_one(orphan, args) is False
    assert f"segment {orphan} was removed meanwhile" in out.getvalue()
    assert err.getvalue().strip() == "sysvshm: rm: no segment with key 0x00001234"
