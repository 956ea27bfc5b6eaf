"""The sysvshm command, run as a subprocess the way a user runs it."""
import json
import os
import subprocess
import sys

import _proc
import pytest

import sysvshm

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def run(*args, input=None):
    """python -m sysvshm ARGS, from a directory that is not the source tree."""
    with subprocess.Popen([sys.executable, "-m", "sysvshm", *args], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd="/") as proc:
        _proc.started(proc.pid)  # its segments are this run's to clean up
        out, err = proc.communicate(input, timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def assert_one_line_error(result, status):
    assert result.returncode == status, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
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
    records = json.loads(run("list", "--json").stdout)
    mine = [r for r in records if r["shmid"] == seg.shmid]
    assert len(mine) == 1
    st = seg.stat()
    for field in ("key", "uid", "gid", "cuid", "cgid", "mode", "size", "cpid", "nattch"):
        assert mine[0][field] == getattr(st, field), field
    assert mine[0]["rss"] == _proc.row(seg.shmid)["rss"]
    assert mine[0]["command"] and mine[0]["orphan"] is False
    assert mine[0]["key_hex"] == "0x00000000"


def test_list_table(seg):
    out = run("list").stdout.splitlines()
    assert out[0].split()[:4] == ["KEY", "SHMID", "OWNER", "PERMS"]
    row = [line for line in out if line.split()[1] == str(seg.shmid)]
    assert len(row) == 1
    fields = row[0].split()
    assert fields[3] == "600" and fields[4] == "4.0K"


def test_list_orphans_and_mine(seg, orphan):
    orphans = {r["shmid"] for r in json.loads(run("list", "--orphans", "--json").stdout)}
    assert orphan in orphans and seg.shmid not in orphans
    mine = {r["shmid"] for r in json.loads(run("list", "--mine", "--json").stdout)}
    assert {orphan, seg.shmid} <= mine


def test_info(seg):
    result = run("info", str(seg.shmid))
    assert result.returncode == 0
    assert f"shmid: {seg.shmid}" in result.stdout and "size: 4096 (4.0K)" in result.stdout
    record = json.loads(run("info", str(seg.shmid), "--json").stdout)
    assert record["shmid"] == seg.shmid and record["nattch"] == 1


def test_limits_command():
    result = run("limits", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == sysvshm.limits()._replace(
        used_ids=json.loads(result.stdout)["used_ids"],
        shm_tot=json.loads(result.stdout)["shm_tot"],
        shm_rss=json.loads(result.stdout)["shm_rss"])._asdict()
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
    listed = {r["shmid"] for r in json.loads(capture("list", "--orphans", "--json").stdout)}
    assert listed == {orphan, late}
    dry = capture("rm", "--orphans", "--dry-run")
    assert dry.returncode == 0 and f"would remove segment {orphan}" in dry.stdout
    sysvshm.shmctl(orphan, sysvshm.IPC_STAT)  # still there
    refused = capture("rm", "--orphans")  # stdin is not a terminal here
    assert refused.returncode == 1 and "--yes" in refused.stderr
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
    listed = {r["shmid"] for r in json.loads(capture("list", "--orphans", "--json").stdout)}
    assert listed == {control}
    records = {r["shmid"]: r for r in json.loads(capture("list", "--json").stdout)}
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


def _keyed_only_with_keyed():
    _proc.unshare_ipc()
    key = 0x5EC0FFEE
    result = run("create", "--size", "8K", "--key", hex(key))  # its creator has exited
    assert result.returncode == 0, result.stderr
    shmid = int(result.stdout)
    try:
        st = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
        assert st.key == key and st.nattch == 0
        assert json.loads(capture("list", "--orphans", "--json").stdout) == []
        assert json.loads(capture("list", "--json").stdout)[0]["orphan"] is False
        keyed = json.loads(capture("list", "--orphans", "--keyed", "--json").stdout)
        assert [(r["shmid"], r["orphan"]) for r in keyed] == [(shmid, True)]
        assert "orphan: no (keyed" in capture("info", str(shmid)).stdout
        result = capture("rm", "--orphans", "--yes")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "no orphaned segments\n"
        assert not sysvshm.shmctl(shmid, sysvshm.IPC_STAT).removed
        result = capture("rm", "--orphans", "--keyed", "--yes")
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"removed segment {shmid} (key {hex(key)}, 8.0K)\n"
        with pytest.raises(FileNotFoundError):
            sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
    finally:
        try:
            sysvshm.shmctl(shmid, sysvshm.IPC_RMID)
        except FileNotFoundError:
            pass


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
    assert f"segment {orphan}" in line and "no segment has id" in line


def test_rm_nothing():
    assert "nothing to remove" in assert_one_line_error(run("rm"), 2)


@pytest.mark.parametrize("args,status,needle", [
    (("info", "999999999"), 1, "no segment has id"),
    (("info", "abc"), 2, "invalid segment id"),
    (("info", "-5"), 2, "invalid segment id"),
    (("rm", "--key", "abc"), 2, "invalid key"),
    (("rm", "--key", "0x1ffffffff"), 2, "32 bits"),
    (("rm", "--key", "0x7a7a7a7a"), 1, "No such file"),
    (("rm", "999999999"), 1, "no segment has id"),
    (("create", "--size", "12Q"), 2, "invalid size"),
    (("create", "--size", "0"), 2, "greater than 0"),
    (("create", "--size=-4K"), 2, "invalid size"),
    (("create"), 2, "--size"),
    (("create", "--size", "1K", "--mode", "999"), 2, "invalid mode"),
    (("create", "--size", "1K", "--mode", "1777"), 2, "invalid mode"),
    (("bogus",), 2, "invalid choice"),
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
    assert len(lines) == 2 and all("no segment has id" in line for line in lines)


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


@ROOT_ONLY
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
        assert json.loads(capture("list", "--orphans", "--json").stdout) == []
        result = capture("rm", "--orphans", "--yes")
        assert result.stdout == "no orphaned segments\n", result
        assert _proc.row(block) == before  # looked at, never attached
        result = capture("rm", "--orphans", "--keyed", "--yes")
        assert result.returncode == 0 and f"removed segment {block}" in result.stdout, result
        with pytest.raises(FileNotFoundError):
            sysvshm.shmctl(block, sysvshm.IPC_STAT)
    finally:
        try:
            sysvshm.shmctl(block, sysvshm.IPC_RMID)
        except FileNotFoundError:
            pass


@_proc.needs_ipc_namespace()
def test_rm_orphans_keyed_removes_abandoned_blocks_without_attaching_anything():
    _proc.in_child(_abandoned_blocks_go_with_keyed_and_nothing_is_attached)



def test_list_table_stays_one_line_per_segment_whatever_the_command(tmp_path):
    # A creator started as python -c "...\n..." has newlines in its command line.
    code = "import sysvshm, sys\nseg = sysvshm.shm(size=4096)\nprint(seg.shmid, flush=True)\n" \
           "sys.stdin.read()\nseg.remove()\nx = '\x1b[2J'"
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, cwd="/") as proc:
        _proc.started(proc.pid)
        shmid = int(proc.stdout.readline())
        try:
            out = run("list").stdout.splitlines()
            rows = [line for line in out if line.split()[1:2] == [str(shmid)]]
            assert len(rows) == 1 and "\\x0a" in rows[0] and "\x1b" not in rows[0]
            assert all(len(line.split()) >= 9 for line in out[1:])
        finally:
            proc.communicate("")
