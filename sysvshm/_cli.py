"""sysvshm: inspect and manage System V shared memory (ipcs/ipcrm in Python).

Exit status: 0 on success, 1 when an operation failed, 2 for bad usage,
130 when interrupted. Errors are one line on stderr: "sysvshm: COMMAND: what went wrong".
"""
import argparse
import errno
import multiprocessing
import os
import re
import sys
import time

import sysvshm
from sysvshm._cli_render import (
    human,
    key_hex,
    limits_record,
    print_info,
    print_json,
    print_limits,
    print_list,
    segment_record,
)
from sysvshm._inventory import is_orphan

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


def _parse_bounded(text, base, what, low, high, out_of_range):
    """An integer argument low <= n < high; a number too long to read is out of range."""
    value = _parse_int(text, base)
    if value is None and not (len(text) > 40 and text.strip().lstrip("+-").isdigit()):
        raise argparse.ArgumentTypeError(f"invalid {what} {_shown(text)}: not a number")
    if value is None or not low <= value < high:
        raise argparse.ArgumentTypeError(f"invalid {what} {_shown(text)}: {out_of_range}")
    return value


def parse_key(text):
    """A key as ipcs prints it (0x1234abcd) or as a decimal, possibly negative."""
    return _parse_bounded(text, 0, "key", -2**31, 2**32, "a key is 32 bits")


def parse_rm_key(text):
    """A key of an existing segment: not 0, which is IPC_PRIVATE and names none."""
    key = parse_key(text)
    if key == sysvshm.IPC_PRIVATE:
        raise argparse.ArgumentTypeError(
            f"key {_shown(text)}: a segment with key 0 (IPC_PRIVATE) cannot be removed by "
            f"key; use its id (SHMID in sysvshm list)")
    return key


def parse_id(text):
    return _parse_bounded(text, 10, "segment id", 0, 2**31, "out of range")


def parse_mode(text):
    mode = _parse_int(text, 8)
    if mode is None:
        raise argparse.ArgumentTypeError(
            f"invalid mode {_shown(text)}: not an octal number")
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(
            f"invalid mode {_shown(text)}: must be 0 to 777 (octal)")
    return mode


# -- subcommands -----------------------------------------------------------------------

def cmd_list(args):
    segs = _segments()
    if args.mine:
        segs = [st for st in segs if st.uid == os.geteuid() or st.cuid == os.geteuid()]
    if args.orphans:
        segs = [st for st in segs if is_orphan(st, args.keyed)]
    names = _names(segs)
    if args.json:
        print_json({"sharedmemory": [segment_record(st, args.keyed, names.get(st.shmid))
                                     for st in segs]})
    else:
        print_list(segs, args.bytes, names)
    return 0


def _names(segs):
    """shmid -> (name, shape, dtype text) of the named blocks (sysvshm.shared_memory,
    sysvshm.ndarray) that somebody has attached; see _blocks.describe()."""
    from sysvshm import _blocks

    found = {}
    for st in segs:
        desc = _blocks.describe(st)
        if desc is not None:
            found[st.shmid] = desc
    return found


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
    desc = _names([st]).get(st.shmid)
    if args.json:
        print_json({"sharedmemory": [segment_record(st, False, desc)]})
    else:
        print_info(st, args.bytes, desc)
    return 0


def cmd_limits(args):
    try:
        lim = sysvshm.limits()
    except OSError as exc:
        raise Failure(f"cannot read the system limits: {_reason(exc)}") from None
    if args.json:
        print_json(limits_record(lim))
    else:
        print_limits(lim, args.bytes)
    return 0


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
    _add_reading_commands(sub)
    _add_changing_commands(sub)
    return parser


def _output_options(p):
    p.add_argument("--json", action="store_true",
                   help="print JSON, shaped as lsipc -m --json's (see the docs)")
    p.add_argument("-b", "--bytes", action="store_true",
                   help="print sizes in bytes, not human-readable (JSON is always bytes)")


def _orphan_options(p, orphans, keyed=""):
    """--orphans and --keyed, for list and rm: the rule in short (ORPHAN_RULE, the
    epilog, has it in full)."""
    p.add_argument("--orphans", action="store_true",
                   help=f"{orphans}: unattached, unkeyed, creator and last user gone "
                        "(pid 0 is unknown: never an orphan; see below)")
    p.add_argument("--keyed", action="store_true",
                   help=f"{keyed}count keyed segments as orphans too, by the same rule")


def _add_reading_commands(sub):
    """list, info and limits: they only look."""
    p = sub.add_parser("list", help="list segments, like ipcs -m", epilog=ORPHAN_RULE)
    p.add_argument("--json", action="store_true",
                   help="print JSON, shaped as lsipc -m --json's (see the docs)")
    p.add_argument("--mine", action="store_true", help="only segments I own or created")
    _orphan_options(p, "only orphans")
    p.add_argument("-b", "--bytes", action="store_true",
                   help="print sizes in bytes, not human-readable (JSON is always bytes)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="everything about one segment")
    p.add_argument("id", type=parse_id, help="segment id (SHMID in list)")
    _output_options(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("limits", help="system limits, usage and RLIMIT_MEMLOCK")
    _output_options(p)
    p.set_defaults(func=cmd_limits)


def _add_changing_commands(sub):
    """rm, create and demo: they remove or create segments."""
    p = sub.add_parser("rm", help="remove segments, like ipcrm -m",
                       description="Mark segments for destruction (IPC_RMID); the kernel "
                                   "frees each when its last process detaches.",
                       epilog=ORPHAN_RULE)
    p.add_argument("ids", nargs="*", type=parse_id, metavar="ID", help="segment ids")
    p.add_argument("--key", type=parse_rm_key, action="append",
                   help="remove by key (repeatable; not 0, IPC_PRIVATE: use the id)")
    _orphan_options(p, "remove every orphan", keyed="with --orphans: ")
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
