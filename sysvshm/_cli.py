"""sysvshm: inspect and manage System V shared memory (ipcs/ipcrm in Python).

Exit status: 0 on success, 1 when an operation failed, 2 for bad usage,
130 when interrupted. Errors are one line on stderr: "sysvshm: COMMAND: what went wrong".
"""
import argparse
import datetime
import errno
import grp
import json
import multiprocessing
import os
import pwd
import re
import shutil
import sys
import time
import unicodedata

import sysvshm
from sysvshm._inventory import command_of, is_orphan, never_attached, pid_alive

DEMO_SIZE = 16 << 20
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
# ASCII digits only: int() and \d would take any script's digits ("\u0663" is 3).
_SIZE_RE = re.compile(r"\s*([0-9]+)\s*([KMGTP]?)(?:I?B)?\s*", re.IGNORECASE | re.ASCII)
_INT_RE = re.compile(r"\s*[-+]?(0[xob])?[0-9a-f_]+\s*", re.IGNORECASE | re.ASCII)
# The largest size shmget() takes here (the binding's Py_ssize_t).
MAX_SIZE = sys.maxsize

ORPHAN_RULE = (
    "An orphan is a segment nobody is attached to (nattch 0), not marked for destruction, "
    "with key IPC_PRIVATE (0x00000000; any key with --keyed), whose creator (cpid) is known "
    "and gone and whose last user (lpid) is known and gone or never existed (nobody ever "
    "attached). Known: pid > 0; gone: kill(pid, 0) fails with ESRCH. pid 0 means the "
    "process is in a pid namespace this one cannot see: unknown, so never an orphan. "
    "sysvshm.shared_memory blocks are keyed: those whose users are all gone count with "
    "--keyed.")


class Failure(Exception):
    """An operation failed: one line on stderr, exit status 1."""


class UsageError(Exception):
    """Bad usage found after parsing: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, as the rest of the command's errors are; --help has the usage.
        # argparse says "argument id: invalid ..."; an option's name stays, the
        # word "argument" and a positional's metavar go.
        message = re.sub(r"^argument COMMAND: invalid choice: ", "unknown command ", message)
        message = re.sub(r"^argument (-[^:]*): ", r"\1: ", message)
        message = re.sub(r"^argument [^-][^:]*: ", "", message)
        self.exit(2, f"{_prefix(self.prog)}: {message} (see {self.prog} --help)\n")


def _prefix(prog):
    """'sysvshm info' -> 'sysvshm: info', the start of every error line."""
    return prog.replace(" ", ": ", 1)


# -- argument types ------------------------------------------------------------------

def _shown(text):
    """The argument as an error message quotes it: long input cut short."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _parse_int(text, base):
    """int(text, base), but only ASCII digits and at most 40 characters (None if not)."""
    if len(text) > 40 or not _INT_RE.fullmatch(text):
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def parse_size(text):
    """'4096', '4K', '64MiB', '1g' -> bytes (1024-based)."""
    m = _SIZE_RE.fullmatch(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"invalid size {_shown(text)}: use a number of bytes with an optional "
            f"K, M, G, T or P suffix")
    digits = m.group(1).lstrip("0") or "0"
    if len(digits) > 30:  # far beyond any size; and int() refuses > 4300 digits
        size = MAX_SIZE + 1
    else:
        size = int(digits) * _UNITS[m.group(2).upper()]
    if size <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {_shown(text)}: must be greater than 0")
    if size > MAX_SIZE:
        raise argparse.ArgumentTypeError(
            f"invalid size {_shown(text)}: too large; a segment can have at most "
            f"{MAX_SIZE} bytes ({human(MAX_SIZE)}) here")
    return size


def parse_key(text):
    """A key as ipcs prints it (0x1234abcd) or as a decimal, possibly negative."""
    key = _parse_int(text, 0)
    if key is None:
        if len(text) > 40 and text.strip().lstrip("+-").isdigit():
            raise argparse.ArgumentTypeError(f"invalid key {_shown(text)}: a key is 32 bits")
        raise argparse.ArgumentTypeError(f"invalid key {_shown(text)}: not a number")
    if not -2**31 <= key < 2**32:
        raise argparse.ArgumentTypeError(f"invalid key {_shown(text)}: a key is 32 bits")
    return key


def parse_rm_key(text):
    """A key of an existing segment: not 0, which is IPC_PRIVATE and names none."""
    key = parse_key(text)
    if key == sysvshm.IPC_PRIVATE:
        raise argparse.ArgumentTypeError(
            f"key {_shown(text)}: a segment with key 0 (IPC_PRIVATE) cannot be removed by "
            f"key; use its id (SHMID in sysvshm list)")
    return key


def parse_id(text):
    shmid = _parse_int(text, 10)
    if shmid is None:
        if len(text) > 40 and text.strip().lstrip("+-").isdigit():
            raise argparse.ArgumentTypeError(f"invalid segment id {_shown(text)}: out of range")
        raise argparse.ArgumentTypeError(f"invalid segment id {_shown(text)}: not a number")
    if not 0 <= shmid < 2**31:
        raise argparse.ArgumentTypeError(f"invalid segment id {_shown(text)}: out of range")
    return shmid


def parse_mode(text):
    mode = _parse_int(text, 8)
    if mode is None:
        raise argparse.ArgumentTypeError(
            f"invalid mode {_shown(text)}: not an octal number")
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(
            f"invalid mode {_shown(text)}: must be 0 to 777 (octal)")
    return mode


# -- formatting ----------------------------------------------------------------------

def human(n):
    """Bytes as ls -h prints them: 512B, 4.0K, 64M."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if value < 1024 or unit == "P":
            if unit == "B":
                return f"{int(value)}B"
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def key_hex(key):
    return f"0x{key & 0xFFFFFFFF:08x}"


def owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def size_text(n, exact):
    """A size in the text output: human (4.0K) by default, bytes with -b/--bytes."""
    if n is None:
        return "-"
    return str(n) if exact else human(n)


def status(st):
    words = [w for w, on in (("dest", st.removed), ("locked", st.locked)) if on]
    return ",".join(words)


def iso_time(ts):
    """A time as lsipc --time-format=iso prints it; None (null) for never."""
    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def as_record(st, keyed=False):
    """One segment for --json: lsipc -m --json's keys where they overlap (key as
    unsigned hex, perms as octal digits, times in ISO 8601), then sysvshm's own."""
    return {
        "key": key_hex(st.key), "id": st.shmid, "perms": f"{st.mode:04o}",
        "owner": owner_name(st.uid),
        "uid": st.uid, "user": owner_name(st.uid), "gid": st.gid, "group": group_name(st.gid),
        "cuid": st.cuid, "cuser": owner_name(st.cuid),
        "cgid": st.cgid, "cgroup": group_name(st.cgid),
        "size": st.size, "nattch": st.nattch, "status": status(st) or None,
        "attach": iso_time(st.atime), "detach": iso_time(st.dtime), "ctime": iso_time(st.ctime),
        "cpid": st.cpid, "lpid": st.lpid, "command": command_of(st.cpid),
        # sysvshm's own
        "rss": st.rss, "swap": st.swap, "removed": st.removed, "locked": st.locked,
        "orphan": is_orphan(st, keyed),
    }


def _json(obj):
    print(json.dumps(obj, indent=2))


def process_note(pid):
    """What we know of process *pid*: its command line, '?', '(gone)' or '(unknown)'."""
    alive = pid_alive(pid)
    if alive is None:
        return "(unknown)"  # pid 0: a pid namespace we cannot see
    if not alive:
        return "(gone)"
    return _printable(command_of(pid) or "?")


def _printable(text):
    """One line of text: a command line may hold newlines (python -c "...") or
    escape sequences, which must not break the table or reach the terminal."""
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(c):
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _cells(c):
    """Terminal columns a character takes: 2 for wide (CJK), 0 for combining."""
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def _cut(text, width):
    """text cut to width terminal columns, ending in '...' when cut."""
    if sum(map(_cells, text)) <= width:
        return text
    room, used = max(width - 3, 0), 0
    for i, c in enumerate(text):
        used += _cells(c)
        if used > room:
            return text[:i] + "..."
    return text + "..."


def when(ts):
    if not ts:
        return "never"
    return datetime.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds")


# -- subcommands -----------------------------------------------------------------------

def cmd_list(args):
    segs = _segments()
    if args.mine:
        segs = [st for st in segs if st.uid == os.geteuid() or st.cuid == os.geteuid()]
    if args.orphans:
        segs = [st for st in segs if is_orphan(st, args.keyed)]
    if args.json:
        _json({"sharedmemory": [as_record(st, args.keyed) for st in segs]})
        return 0
    header = ("KEY", "SHMID", "OWNER", "PERMS", "SIZE", "RSS", "NATTCH", "STATUS", "CPID",
              "COMMAND")
    rows = [(key_hex(st.key), str(st.shmid), _printable(owner_name(st.uid)), f"{st.mode:o}",
             size_text(st.size, args.bytes), size_text(st.rss, args.bytes), str(st.nattch),
             status(st), str(st.cpid), process_note(st.cpid))
            for st in segs]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header[:-1])]
    # The command line, the last column, gets what is left of the terminal's width
    # (COLUMNS, else the terminal's, else 80), and never less than its heading.
    left = shutil.get_terminal_size().columns - sum(w + 2 for w in widths)
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  "
              + _cut(r[-1], max(left, len(header[-1]))))
    return 0


def _find(shmid):
    for st in _segments():
        if st.shmid == shmid:
            return st
    raise Failure(f"no segment with id {shmid}")


def _segments():
    try:
        return sysvshm.segments()
    except OSError as exc:
        raise Failure(f"cannot read the segment table: {_reason(exc)}") from None


def cmd_info(args):
    st = _find(args.id)
    if args.json:
        _json({"sharedmemory": [as_record(st)]})
        return 0
    print(f"{'shmid':>8}: {st.shmid}")
    print(f"{'key':>8}: {key_hex(st.key)}")
    print(f"{'owner':>8}: {_printable(owner_name(st.uid))}")
    for field in ("uid", "gid", "cuid", "cgid"):
        print(f"{field:>8}: {getattr(st, field)}")
    print(f"{'mode':>8}: {st.mode:o}")
    print(f"{'size':>8}: {st.size}" + ("" if args.bytes else f" ({human(st.size)})"))
    print(f"{'rss':>8}: {size_text(st.rss, args.bytes)}")
    print(f"{'swap':>8}: {size_text(st.swap, args.bytes)}")
    print(f"{'nattch':>8}: {st.nattch}")
    print(f"{'status':>8}: {status(st) or '-'}")
    print(f"{'cpid':>8}: {st.cpid} {_paren(process_note(st.cpid))}")
    if st.lpid == 0 and never_attached(st):
        print(f"{'lpid':>8}: 0 (none: nobody ever attached)")
    else:
        print(f"{'lpid':>8}: {st.lpid} {_paren(process_note(st.lpid))}")
    for field in ("atime", "dtime", "ctime"):
        print(f"{field:>8}: {when(getattr(st, field))}")
    if is_orphan(st):
        verdict = "yes"
    elif is_orphan(st, keyed=True):
        verdict = "no (keyed: an orphan only with --keyed)"
    else:
        verdict = "no"
    print(f"{'orphan':>8}: {verdict}")
    return 0


def _paren(note):
    return note if note.startswith("(") else f"({note})"


def _use(used, limit):
    """lsipc's use% column: '0.02%'."""
    return f"{used / limit * 100:.2f}%" if limit else None


def limits_json(lim):
    """limits --json: lsipc -m -g --json's rows, then every field of limits()."""
    rows = [
        ("SHMMNI", "Shared memory segments", lim.shmmni, lim.used_ids),
        ("SHMALL", "Shared memory pages", lim.shmall, lim.shm_tot),
        ("SHMMAX", "Max size of shared memory segment (bytes)", lim.shmmax, None),
        ("SHMMIN", "Min size of shared memory segment (bytes)", lim.shmmin, None),
        ("SHMSEG", "Shared memory segments one process may attach", lim.shmseg, None),
    ]
    return {
        "ipclimits": [{"resource": name, "description": text, "limit": limit, "used": used,
                       "use%": None if used is None else _use(used, limit)}
                      for name, text, limit, used in rows],
        "limits": lim._asdict(),
    }


def cmd_limits(args):
    try:
        lim = sysvshm.limits()
    except OSError as exc:
        raise Failure(f"cannot read the system limits: {_reason(exc)}") from None
    if args.json:
        _json(limits_json(lim))
        return 0
    page = lim.pagesize
    exact = args.bytes

    def amount(n):  # a parenthesised size after a count
        return f"{n} bytes" if exact else human(n)

    lines = [
        ("shmmax", _limit(lim.shmmax, "byte", 1, exact), "largest segment"),
        ("shmmin", _count(lim.shmmin, "byte"), "smallest segment"),
        ("shmmni", str(lim.shmmni), "most segments in the system"),
        ("shmseg", str(lim.shmseg), "most segments one process attaches"),
        ("shmall", _limit(lim.shmall, "page", page, exact), "most memory in segments"),
        ("used", f"{_count(lim.used_ids, 'segment')}, {_count(lim.shm_tot, 'page')} "
                 f"({amount(lim.shm_tot * page)})", "in use now"),
        ("resident", f"{_count(lim.shm_rss, 'page')} ({amount(lim.shm_rss * page)})", ""),
        ("swapped", f"{_count(lim.shm_swp, 'page')} ({amount(lim.shm_swp * page)})", ""),
        ("memlock", f"{_rlimit(lim.memlock_soft, exact)} (hard "
                    f"{_rlimit(lim.memlock_hard, exact)})", "RLIMIT_MEMLOCK, for SHM_LOCK"),
    ]
    for name, value, note in lines:
        print(f"{name:>9}: {value}" + (f"   {note}" if note else ""))
    return 0


# The kernel's "no limit" for shmmax and shmall is ULONG_MAX - 2**24 (a value
# that cannot overflow when rounded up); anything that large is no limit.
_UNLIMITED = 1 << 62


def _count(n, unit):
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _limit(n, unit, unit_bytes, exact=False):
    if n >= _UNLIMITED:
        return "unlimited"
    if unit_bytes == 1 and exact:
        return _count(n, unit)
    if exact:
        return f"{_count(n, unit)} ({_count(n * unit_bytes, 'byte')})"
    return f"{_count(n, unit)} ({human(n * unit_bytes)})"


def _rlimit(value, exact=False):
    if value is None:
        return "unlimited"
    return _count(value, "byte") if exact else human(value)


def _warn(command, message):
    print(f"sysvshm: {command}: {message}", file=sys.stderr)


def _reason(exc, detail=False):
    """An OSError as the command words it: 'permission denied: /proc/...', with no
    [Errno N] and, unless *detail*, none of the library's advice to Python callers."""
    if not isinstance(exc, OSError) or not exc.errno:
        return str(exc)
    base = os.strerror(exc.errno)
    text = base[:1].lower() + base[1:]
    if detail and exc.strerror and exc.strerror.startswith(base + ": "):
        text += exc.strerror[len(base):]
    if exc.filename is not None:
        text += f": {os.fsdecode(exc.filename)}"
    return text


def _confirm(question):
    if not sys.stdin.isatty():
        raise Failure("refusing to remove without confirmation: not a terminal (use --yes)")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:  # ^D: no
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_rm(args):
    if args.keyed and not args.orphans:
        raise UsageError("--keyed only applies to --orphans")
    targets = list(args.ids)
    failed = False
    args.key_of = {}  # shmid -> the key it was named by, for messages
    for key in args.key or ():
        try:
            targets.append(sysvshm.shmget(key))
            args.key_of[targets[-1]] = key
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                _warn("rm", f"no segment with key {key_hex(key)}")
            else:
                _warn("rm", f"key {key_hex(key)}: {_reason(exc)}")
            failed = True
    args.explicit = set(targets)  # named by id or key: removed without the orphan rule
    if args.orphans:
        orphans = [st for st in _segments() if is_orphan(st, args.keyed)]
        if orphans and not args.dry_run and not args.yes:
            listing = ", ".join(f"{st.shmid} ({human(st.size)})" for st in orphans)
            if not _confirm(f"remove {len(orphans)} orphaned segment(s): {listing}?"):
                _warn("rm", "nothing removed")
                return 1
        targets.extend(st.shmid for st in orphans)
    if not targets and not failed:
        if args.orphans:
            _say("no orphaned segments")
            return 0
        raise UsageError("nothing to remove: give segment ids, --key or --orphans")
    for shmid in dict.fromkeys(targets):  # each once, in order
        failed |= not _remove_one(shmid, args)
    return 1 if failed else 0


def _say(line):
    """print() for rm: a reader that goes away (rm --orphans --yes | head) must not
    stop the removals half-way, so the output is dropped and the work goes on."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout():
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _remove_one(shmid, args):
    # An orphan found by the listing that is gone by now was removed by someone
    # else (another cleaner): that is the outcome asked for, not a failure.
    orphan = args.orphans and shmid not in args.explicit
    named = (f"key {key_hex(args.key_of[shmid])}" if shmid in args.key_of
             else f"id {shmid}")
    try:
        st = _find(shmid)
        if orphan and not is_orphan(st, args.keyed):
            # Re-checked just before removing: someone attached since the listing.
            _warn("rm", f"skipped segment {shmid}: no longer orphaned")
            return True
        if args.dry_run:
            _say(f"would remove segment {shmid} (key {key_hex(st.key)}, {human(st.size)})")
            return True
        sysvshm.remove(shmid=shmid)
    except Failure as exc:
        if orphan:
            _say(f"segment {shmid} was removed meanwhile")
            return True
        _warn("rm", f"no segment with {named}" if "no segment with id" in str(exc)
              else str(exc))
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EINVAL, errno.EIDRM):  # removed meanwhile
            if orphan:
                _say(f"segment {shmid} was removed meanwhile")
                return True
            _warn("rm", f"no segment with {named}")
        elif exc.errno == errno.EPERM:
            _warn("rm", f"segment {shmid}: not permitted: only its owner, its creator "
                        f"or root may remove it")
        else:
            _warn("rm", f"segment {shmid}: {_reason(exc)}")
        return False
    _say(f"removed segment {shmid} (key {key_hex(st.key)}, {human(st.size)})")
    return True


def _shmmax():
    try:
        return sysvshm.limits().shmmax
    except (OSError, AttributeError, NotImplementedError):
        return None  # no IPC_INFO here: the kernel's error will say


def cmd_create(args):
    key = sysvshm.IPC_PRIVATE if args.key is None else args.key  # 0 is IPC_PRIVATE too
    size = f"{human(args.size)} ({args.size} bytes)" if args.size >= 1024 else f"{args.size}B"
    shmmax = _shmmax()
    if shmmax is not None and args.size > shmmax:
        raise Failure(f"size {size} is above the system limit kernel.shmmax={shmmax} "
                      f"({human(shmmax)})")
    flags = sysvshm.IPC_CREAT | sysvshm.IPC_EXCL | args.mode
    if args.noreserve:
        flags |= sysvshm.SHM_NORESERVE
    try:
        shmid = sysvshm.shmget(key, args.size, flags)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise Failure(f"a segment with key {key_hex(key)} already exists") from None
        if exc.errno == errno.ENOMEM:
            hint = "" if args.noreserve else " (--noreserve creates it without reserving swap)"
            raise Failure(f"cannot create a segment of {size}: not enough memory{hint}") from None
        if exc.errno in (errno.ENOSPC, errno.EINVAL):
            # The library names the limit hit (kernel.shmmni, kernel.shmall, shmmin).
            raise Failure(f"cannot create a segment of {size}: "
                          f"{_reason(exc, detail=True)}") from None
        raise Failure(f"cannot create a segment of {size}: {_reason(exc)}") from None
    print(shmid)
    return 0


def _demo_child(shmid, conn):
    t0 = time.perf_counter()
    seg = sysvshm.shmat(shmid)
    first = bytes(seg[:24])
    seg[DEMO_SIZE // 2:DEMO_SIZE // 2 + 21] = b"hello from the child!"
    seg.close()
    conn.send((first, time.perf_counter() - t0))


def cmd_demo(args):
    ctx = multiprocessing.get_context(args.start_method)
    t0 = time.perf_counter()
    try:
        seg = sysvshm.shm(size=DEMO_SIZE)
    except OSError as exc:
        raise Failure(f"cannot create a {DEMO_SIZE >> 20} MiB segment: "
                      f"{_reason(exc, detail=exc.errno in (errno.ENOSPC, errno.EINVAL))}") from None
    # Marked for destruction at once: Linux keeps an attached segment usable (and
    # attachable by id) and frees it at the last detach, so the demo leaves
    # nothing behind even if it is killed.
    seg.remove()
    created = time.perf_counter() - t0
    seg[:24] = b"hello from the parent!\n\0"
    parent_conn, child_conn = ctx.Pipe()
    p = ctx.Process(target=_demo_child, args=(seg.shmid, child_conn))
    t1 = time.perf_counter()
    p.start()
    child_conn.close()  # the child's end: recv() sees EOF if the child dies
    try:
        child_saw, child_took = parent_conn.recv()
    except EOFError:
        p.join()
        seg.close()
        raise Failure(f"the child process (pid {p.pid}) failed, exit status {p.exitcode}") \
            from None
    p.join()
    roundtrip = time.perf_counter() - t1
    parent_saw = bytes(seg[DEMO_SIZE // 2:DEMO_SIZE // 2 + 21])
    print(f"segment {seg.shmid}: {len(seg) >> 20} MiB, created and attached in "
          f"{created * 1e6:.0f} us")
    print(f"child  (pid {p.pid}, {args.start_method}) read:  {child_saw.rstrip(bytes(2))!r} "
          f"(attach+read+write+detach {child_took * 1e6:.0f} us)")
    print(f"parent (pid {os.getpid()}) read: {parent_saw!r} "
          f"(child start to finish {roundtrip * 1e3:.1f} ms)")
    seg.close()
    print("segment detached and destroyed: nothing left behind")
    return 0 if p.exitcode == 0 and parent_saw == b"hello from the child!" else 1


# -- the parser --------------------------------------------------------------------

def build_parser():
    parser = _Parser(prog="sysvshm", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sysvshm {sysvshm.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("list", help="list segments, like ipcs -m", epilog=ORPHAN_RULE)
    p.add_argument("--json", action="store_true",
                   help="print JSON, shaped as lsipc -m --json's (see the docs)")
    p.add_argument("--mine", action="store_true", help="only segments I own or created")
    p.add_argument("--orphans", action="store_true",
                   help="only orphans: unattached, unkeyed, creator and last user gone "
                        "(pid 0 is unknown: never an orphan; see below)")
    p.add_argument("--keyed", action="store_true",
                   help="count keyed segments as orphans too, by the same rule")
    p.add_argument("-b", "--bytes", action="store_true",
                   help="print sizes in bytes, not human-readable (JSON is always bytes)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="everything about one segment")
    p.add_argument("id", type=parse_id, help="segment id (SHMID in list)")
    p.add_argument("--json", action="store_true",
                   help="print JSON, shaped as lsipc -m --json's (see the docs)")
    p.add_argument("-b", "--bytes", action="store_true",
                   help="print sizes in bytes, not human-readable (JSON is always bytes)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("limits", help="system limits, usage and RLIMIT_MEMLOCK")
    p.add_argument("--json", action="store_true",
                   help="print JSON, shaped as lsipc -m --json's (see the docs)")
    p.add_argument("-b", "--bytes", action="store_true",
                   help="print sizes in bytes, not human-readable (JSON is always bytes)")
    p.set_defaults(func=cmd_limits)

    p = sub.add_parser("rm", help="remove segments, like ipcrm -m",
                       description="Mark segments for destruction (IPC_RMID); the kernel "
                                   "frees each when its last process detaches.",
                       epilog=ORPHAN_RULE)
    p.add_argument("ids", nargs="*", type=parse_id, metavar="ID", help="segment ids")
    p.add_argument("--key", type=parse_rm_key, action="append",
                   help="remove by key (repeatable; not 0, IPC_PRIVATE: use the id)")
    p.add_argument("--orphans", action="store_true",
                   help="remove every orphan: unattached, unkeyed, creator and last user gone "
                        "(pid 0 is unknown: never an orphan; see below)")
    p.add_argument("--keyed", action="store_true",
                   help="with --orphans: count keyed segments as orphans too, by the same rule")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("-n", "--dry-run", action="store_true", help="only say what would go")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("create", help="create a segment and print its id")
    p.add_argument("--size", type=parse_size, required=True,
                   help="bytes; K, M, G, T, P suffixes (1024-based)")
    p.add_argument("--key", type=parse_key,
                   help="key (default and 0: IPC_PRIVATE, a new unkeyed segment); fails if taken")
    p.add_argument("--mode", type=parse_mode, default=0o600, help="octal permissions (600)")
    p.add_argument("--noreserve", action="store_true",
                   help="SHM_NORESERVE: reserve no swap space for it; memory is only taken "
                        "when written (and writing may then fail with SIGSEGV)")
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("demo", help="share a buffer between two processes",
                       description="Two processes share one buffer through a segment.")
    p.add_argument("--start-method", default="spawn",
                   choices=multiprocessing.get_all_start_methods())
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # Said by the subcommand, whose --help lists what it takes, unless the
            # stray word came before the command's name (sysvshm --bogus list).
            before = argv[:argv.index(args.command)] if args.command in argv else argv
            if any(word in before for word in extra):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            subparsers = next(a for a in parser._actions
                              if isinstance(a, argparse._SubParsersAction))
            subparsers.choices[args.command].error(
                f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit:
        # --help, --version and usage errors exit from argparse: their output
        # meets a closed pipe here, not at the interpreter's exit.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        raise
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a broken pipe is still ours to handle
        return code
    except UsageError as exc:
        _warn(args.command, f"{exc} (see sysvshm {args.command} --help)")
        return 2
    except BrokenPipeError:
        # The reader went away (sysvshm list | head): stop quietly, as ls does.
        _silence_stdout()
        return 1
    except (Failure, OSError, ValueError, OverflowError, NotImplementedError) as exc:
        _warn(args.command, _reason(exc))
        return 1
    except KeyboardInterrupt:
        _warn(args.command, "interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
