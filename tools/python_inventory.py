#!/usr/bin/env python3
"""Write docs/_inventories/python.inv, the stdlib inventory the docs link through.

The docs build offline (CI reaches nothing beyond the package indexes), so
intersphinx cannot download https://docs.python.org/3/objects.inv; conf.py
points it at this committed file instead, and the links it makes still go to
docs.python.org. The source is any Sphinx objects.inv of the Python docs, by
default Debian's python3-doc (``apt-get install python3-doc``); a downloaded
https://docs.python.org/3/objects.inv works as well. The output keeps the
Python-domain entries the docs can use: builtins (functions, types, exceptions),
every top-level module, and everything in the modules listed in MODULES.

    python3 tools/python_inventory.py [SOURCE] [OUTPUT]

Run it again (and commit the result) when the docs start linking to a module
that is not in MODULES: with nitpicky on, such a link fails the build.
"""
import pathlib
import re
import sys
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = "/usr/share/doc/python3/html/objects.inv"
OUTPUT = ROOT / "docs" / "_inventories" / "python.inv"

# The modules whose contents the docs refer to (classes, methods, constants).
MODULES = (
    "io",
    "mmap",
    "multiprocessing",
    "os",
    "pickle",
    "resource",
    "secrets",
    "signal",
    "sys",
    "threading",
    "unittest",
)
TOP_LEVEL_ROLES = ("py:class", "py:exception", "py:function", "py:module")
ENTRY = re.compile(r"(.+?)\s+(\S+)\s+-?\d+\s+\S*\s+.*")  # as sphinx.util.inventory reads it


def read(path):
    """The header lines and the entry lines of an inventory (format version 2)."""
    data = pathlib.Path(path).read_bytes()
    header = data.split(b"\n", 4)
    if header[0] != b"# Sphinx inventory version 2":
        raise SystemExit(f"{path}: not a Sphinx inventory of version 2")
    return ([line.decode() for line in header[:4]],
            zlib.decompress(header[4]).decode().splitlines())


def wanted(line):
    # name domain:role priority uri dispname; a name (a std:label's) may hold spaces
    match = ENTRY.match(line)
    if match is None:
        return False
    name, role = match.groups()
    if not role.startswith("py:"):
        return False
    if "." not in name:
        return role in TOP_LEVEL_ROLES
    return any(name == m or name.startswith(m + ".") for m in MODULES)


def main(argv):
    source = argv[1] if len(argv) > 1 else SOURCE
    output = pathlib.Path(argv[2] if len(argv) > 2 else OUTPUT)
    header, entries = read(source)
    kept = sorted(line for line in entries if wanted(line))
    body = zlib.compress("".join(line + "\n" for line in kept).encode(), 9)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes("".join(line + "\n" for line in header).encode() + body)
    print(f"{output}: {len(kept)} of {len(entries)} entries from {source} ({header[2][2:]})")


if __name__ == "__main__":
    main(sys.argv)
