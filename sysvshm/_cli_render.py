"""How the sysvshm command shows things: sizes, owners, processes and times as
text; the list table, cut to the terminal's width; the info and limits pages;
the JSON records, shaped as lsipc's. No decisions and no system calls besides
reading names (pwd, grp) and process command lines (_inventory)."""
import datetime
import grp
import json
import pwd
import shutil
import unicodedata

from sysvshm._inventory import command_of, is_orphan, never_attached, pid_alive

# -- values as text ---------------------------------------------------------------------

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


def _owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _size_text(n, exact):
    """A size in the text output: human (4.0K) by default, bytes with -b/--bytes."""
    if n is None:
        return "-"
    return str(n) if exact else human(n)


def _status(st):
    words = [w for w, on in (("dest", st.removed), ("locked", st.locked)) if on]
    return ",".join(words)


def _iso_time(ts):
    """A time as lsipc --time-format=iso prints it; None (null) for never."""
    if not ts:
        return None
    return datetime.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _when(ts):
    if not ts:
        return "never"
    return datetime.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds")


def _process_note(pid):
    """What we know of process *pid*: its command line, '?', '(gone)' or '(unknown)'."""
    alive = pid_alive(pid)
    if alive is None:
        return "(unknown)"  # pid 0: a pid namespace we cannot see
    if not alive:
        return "(gone)"
    return _printable(command_of(pid) or "?")


def _paren(note):
    return note if note.startswith("(") else f"({note})"


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


# -- the text pages -----------------------------------------------------------------------

def block_text(desc):
    """A named block as list shows it: its name, and an array's shape and dtype."""
    if desc is None:
        return "-"
    name, shape, dtype = desc
    text = _printable(name)
    if shape is not None:
        text += f" {shape_text(shape)} {_printable(dtype)}"
    elif dtype is not None:
        text += f" {_printable(dtype)}"
    return text


def shape_text(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def print_list(segs, exact, names=None):
    """sysvshm list: one row per segment, as ipcs -m, with the name of a named
    block (and an array's shape and dtype) and its creator's command."""
    names = names or {}
    header = ("KEY", "SHMID", "OWNER", "PERMS", "SIZE", "RSS", "NATTCH", "STATUS", "CPID",
              "NAME", "COMMAND")
    rows = [(key_hex(st.key), str(st.shmid), _printable(_owner_name(st.uid)), f"{st.mode:o}",
             _size_text(st.size, exact), _size_text(st.rss, exact), str(st.nattch),
             _status(st), str(st.cpid), _cut(block_text(names.get(st.shmid)), 40),
             _process_note(st.cpid))
            for st in segs]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header[:-1])]
    # The command line, the last column, gets what is left of the terminal's width
    # (COLUMNS, else the terminal's, else 80), and never less than its heading.
    left = shutil.get_terminal_size().columns - sum(w + 2 for w in widths)
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  "
              + _cut(r[-1], max(left, len(header[-1]))))


def print_info(st, exact, desc=None):
    """sysvshm info: every field of one segment, one per line."""
    print(f"{'shmid':>8}: {st.shmid}")
    print(f"{'key':>8}: {key_hex(st.key)}")
    if desc is not None:
        name, shape, dtype = desc
        print(f"{'name':>8}: {_printable(name)}")
        if shape is not None:
            print(f"{'array':>8}: shape {shape_text(shape)}, dtype {_printable(dtype)}")
        elif dtype is not None:
            print(f"{'array':>8}: {_printable(dtype)}")
    print(f"{'owner':>8}: {_printable(_owner_name(st.uid))}")
    for field in ("uid", "gid", "cuid", "cgid"):
        print(f"{field:>8}: {getattr(st, field)}")
    print(f"{'mode':>8}: {st.mode:o}")
    print(f"{'size':>8}: {st.size}" + ("" if exact else f" ({human(st.size)})"))
    print(f"{'rss':>8}: {_size_text(st.rss, exact)}")
    print(f"{'swap':>8}: {_size_text(st.swap, exact)}")
    print(f"{'nattch':>8}: {st.nattch}")
    print(f"{'status':>8}: {_status(st) or '-'}")
    print(f"{'cpid':>8}: {st.cpid} {_paren(_process_note(st.cpid))}")
    if st.lpid == 0 and never_attached(st):
        print(f"{'lpid':>8}: 0 (none: nobody ever attached)")
    else:
        print(f"{'lpid':>8}: {st.lpid} {_paren(_process_note(st.lpid))}")
    for field in ("atime", "dtime", "ctime"):
        print(f"{field:>8}: {_when(getattr(st, field))}")
    if is_orphan(st):
        verdict = "yes"
    elif is_orphan(st, keyed=True):
        verdict = "no (keyed: an orphan only with --keyed)"
    else:
        verdict = "no"
    print(f"{'orphan':>8}: {verdict}")


def print_limits(lim, exact):
    """sysvshm limits: each limit and the usage, with its unit and meaning."""
    page = lim.pagesize

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


# -- JSON ---------------------------------------------------------------------------------

def print_json(obj):
    print(json.dumps(obj, indent=2))


def segment_record(st, keyed=False, desc=None):
    """One segment for --json: lsipc -m --json's keys where they overlap (key as
    unsigned hex, perms as octal digits, times in ISO 8601), then sysvshm's own."""
    return {
        "key": key_hex(st.key), "id": st.shmid, "perms": f"{st.mode:04o}",
        "owner": _owner_name(st.uid),
        "uid": st.uid, "user": _owner_name(st.uid), "gid": st.gid, "group": _group_name(st.gid),
        "cuid": st.cuid, "cuser": _owner_name(st.cuid),
        "cgid": st.cgid, "cgroup": _group_name(st.cgid),
        "size": st.size, "nattch": st.nattch, "status": _status(st) or None,
        "attach": _iso_time(st.atime), "detach": _iso_time(st.dtime),
        "ctime": _iso_time(st.ctime),
        "cpid": st.cpid, "lpid": st.lpid, "command": command_of(st.cpid),
        # sysvshm's own
        "rss": st.rss, "swap": st.swap, "removed": st.removed, "locked": st.locked,
        "orphan": is_orphan(st, keyed),
        "name": None if desc is None else desc[0],
        "array": None if desc is None or desc[1] is None else
                 {"shape": list(desc[1]), "dtype": desc[2]},
    }


def _use(used, limit):
    """lsipc's use% column: '0.02%'."""
    return f"{used / limit * 100:.2f}%" if limit else None


def limits_record(lim):
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
