"""Comparing what a call does on the stdlib's object with what it does on ours.

``outcome()`` turns a call into a value two implementations' answers can be
compared by: the result, or the exception's type and message. ``assert_same()``
holds the few places where the stdlib's answer depends on its version and ours
does not (ours follows the newest stdlib everywhere).
"""
import sys

PY313 = sys.version_info >= (3, 13)
# Python 3.9's argument parser words int conversion errors its own way
# ("integer argument expected, got float"); the exception type is the same.
PY39_ARG_MESSAGES = ("integer argument expected", "an integer is required")
# Cases whose argument-parsing wording differs between METH_VARARGS and Cython;
# the type of the error is what code relies on.
PARSER_WORDED = ("seek-kw", "madvise-bad")


def type_name(obj):
    """The name an error message gives obj's type ("mmap.mmap", "sysvshm._shm.shm")."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def outcome(fn, *args, hide=(), attrs=()):
    """What fn(*args) did: ("ok", result) or ("raised", type, message).

    Each name in *hide* is replaced by "<type>" in the message, so that messages
    naming the type ("... for +: 'mmap.mmap' and 'bytes'") compare equal across
    implementations. The exception's attributes named in *attrs* ("errno",
    "filename"; None where it has none) come before the message. A memoryview
    result is compared as bytes: a live view would hold an export on an object
    the test closes next.
    """
    try:
        result = fn(*args)
    except Exception as exc:  # the exception is the result being compared
        text = str(exc)
        for name in hide:
            text = text.replace(name, "<type>")
        return ("raised", type(exc), *(getattr(exc, a, None) for a in attrs), text)
    if isinstance(result, memoryview):
        result = result.tobytes()
    return ("ok", result)


def assert_same(ours, ref, name="", seek_in_tuples=False):
    """Two outcomes of the mmap-interface case *name* agree, allowing for the
    stdlib's version: its older argument parser's wording, and seek() returning
    None before 3.13 (ours returns the position on every version, 3.13's rule).

    With *seek_in_tuples*, a tuple result may hold seek()'s None (before 3.13)
    where ours holds an int.
    """
    if ref[0] == "raised" and ref[2].startswith(PY39_ARG_MESSAGES):
        assert ours[:2] == ref[:2]
    elif name in PARSER_WORDED:
        assert ours[:2] == ref[:2]
    elif not PY313 and ref == ("ok", None) and name.startswith("seek"):
        assert ours[0] == "ok"
    elif seek_in_tuples and not PY313 and ref[0] == "ok" and isinstance(ref[1], tuple):
        assert len(ours[1]) == len(ref[1])
        for a, b in zip(ours[1], ref[1]):
            assert a == b or (b is None and isinstance(a, int))
    else:
        assert ours == ref
