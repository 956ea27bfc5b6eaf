"""What IPython, Jupyter and jedi-based editors complete: every public method and
property of shm and sysvshm.mmap.mmap, on the object itself and on the one a
``with`` statement binds (run by tox -e types, which installs jedi)."""
import sys

import jedi

import sysvshm
import sysvshm.mmap

CASES = {
    "seg = sysvshm.shm(size=10)\nseg.": sysvshm.shm,
    "with sysvshm.shm(size=10) as seg:\n    seg.": sysvshm.shm,
    "seg = sysvshm.shmat(1)\nseg.": sysvshm.shm,
    "m = sysvshm.mmap.mmap(-1, 10)\nm.": sysvshm.mmap.mmap,
    "with sysvshm.mmap.mmap(-1, 10) as m:\n    m.": sysvshm.mmap.mmap,
}


def main():
    failed = False
    for body, cls in CASES.items():
        source = "import sysvshm\nimport sysvshm.mmap\n" + body
        lines = source.splitlines()
        found = {c.name for c in jedi.Script(source).complete(len(lines), len(lines[-1]))}
        public = {name for name in dir(cls) if not name.startswith("_")}
        missing = sorted(public - found)
        print(f"{body.splitlines()[-2].strip() or body!r}: {len(public & found)}/{len(public)}"
              + (f", missing {missing}" if missing else ""))
        failed |= bool(missing)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
