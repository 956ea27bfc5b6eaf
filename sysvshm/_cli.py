"""The ``sysvshm`` command. Subcommands: demo."""
import argparse
import multiprocessing
import sys
import time

import sysvshm

DEMO_SIZE = 16 << 20


def _demo_child(shmid, conn):
    t0 = time.perf_counter()
    seg = sysvshm.shmat(shmid)
    first = bytes(seg[:24])
    seg[DEMO_SIZE // 2:DEMO_SIZE // 2 + 21] = b"hello from the child!"
    seg.close()
    conn.send((first, time.perf_counter() - t0))


def demo(args):
    """Two processes share one buffer through a System V segment."""
    ctx = multiprocessing.get_context(args.start_method)
    t0 = time.perf_counter()
    seg = sysvshm.shm(size=DEMO_SIZE)
    # Mark it for destruction at once: Linux keeps an attached segment usable
    # (and attachable by id), and the kernel frees it when the last process
    # detaches, so the demo leaves nothing behind even if it is killed.
    seg.remove()
    created = time.perf_counter() - t0
    seg[:24] = b"hello from the parent!\n\0"
    parent_conn, child_conn = ctx.Pipe()
    p = ctx.Process(target=_demo_child, args=(seg.shmid, child_conn))
    t1 = time.perf_counter()
    p.start()
    child_saw, child_took = parent_conn.recv()
    p.join()
    roundtrip = time.perf_counter() - t1
    parent_saw = bytes(seg[DEMO_SIZE // 2:DEMO_SIZE // 2 + 21])
    print(f"segment {seg.shmid}: {len(seg) >> 20} MiB, created and attached in "
          f"{created * 1e6:.0f} us")
    print(f"child  (pid {p.pid}, {args.start_method}) read:  {child_saw.rstrip(bytes(2))!r} "
          f"(attach+read+write+detach {child_took * 1e6:.0f} us)")
    print(f"parent (pid {multiprocessing.current_process().pid}) read: {parent_saw!r} "
          f"(child start to finish {roundtrip * 1e3:.1f} ms)")
    seg.close()
    print("segment detached and destroyed: nothing left behind")
    return 0 if p.exitcode == 0 and parent_saw == b"hello from the child!" else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sysvshm", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("demo", help="share a buffer between two processes",
                       description=demo.__doc__)
    p.add_argument("--start-method", default="spawn",
                   choices=multiprocessing.get_all_start_methods())
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except OSError as exc:
        print(f"sysvshm {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
