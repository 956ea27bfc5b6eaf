# Argument conversion, in one place: one converter per C type, named after it,
# each with the exception and the words CPython's PyArg_Parse* format gives
# ("i", "n", "L", "b"), so the stdlib's callers see what they always saw.
#
# Only __index__ is used: Cython's own conversion of a typed `int` parameter
# goes through __int__, which would silently truncate 1.9 to 1.
from cpython.long cimport PyLong_AsSsize_t
from cpython.number cimport PyNumber_Index, PyNumber_AsSsize_t, PyIndex_Check
from cpython.version cimport PY_VERSION_HEX
from libc.limits cimport INT_MAX, INT_MIN

from sysvshm.includes.sys_ipc cimport key_t


cdef inline object as_integer(object value):
    # PyArg_Parse*'s TypeError for a value without __index__, in the running
    # version's words (3.9 worded it differently), then PyNumber_Index.
    if not PyIndex_Check(value):
        name = type(value).__name__
        if PY_VERSION_HEX < 0x030A0000:
            if isinstance(value, float):
                raise TypeError("integer argument expected, got float")
            raise TypeError(f"an integer is required (got type {name})")
        raise TypeError(f"'{name}' object cannot be interpreted as an integer")
    return PyNumber_Index(value)


cdef inline int as_int(object value) except? -1:
    # "i"
    v = PyNumber_Index(value)
    if v > INT_MAX:
        raise OverflowError("signed integer is greater than maximum")
    if v < INT_MIN:
        raise OverflowError("signed integer is less than minimum")
    return <int>v


cdef inline Py_ssize_t as_ssize(object value) except? -1:
    # "n": OverflowError "Python int too large to convert to C ssize_t".
    return PyLong_AsSsize_t(PyNumber_Index(value))


cdef inline long long as_long_long(object value) except? -1:
    # "L", with the message PyArg_Parse* gives for it.
    v = PyNumber_Index(value)
    if not -2**63 <= v < 2**63:
        raise OverflowError("Python int too large to convert to C long")
    return <long long>v


cdef inline unsigned char as_ubyte(object value) except? 255:
    # "b" (an unsigned char, as PyArg_Parse* checks it).
    cdef long v = PyNumber_Index(value)
    if v < 0:
        raise OverflowError("unsigned byte integer is less than minimum")
    if v > 255:
        raise OverflowError("unsigned byte integer is greater than maximum")
    return <unsigned char>v


cdef inline Py_ssize_t as_optional_ssize(object value, Py_ssize_t default) except? -1:
    # CPython's _Py_convert_optional_to_ssize_t: None means *default*.
    if value is None:
        return default
    if not PyIndex_Check(value):
        raise TypeError(
            f"argument should be integer or None, not '{type(value).__name__}'")
    return PyNumber_AsSsize_t(value, OverflowError)


cdef inline Py_ssize_t as_index(object item) except? -1:
    # A sequence index: what does not fit is IndexError, as for bytes.
    return PyNumber_AsSsize_t(item, IndexError)


cdef inline key_t as_key(object key) except? -1:
    # key_t is 32 bits: refuse what does not fit rather than truncate. The
    # unsigned spelling that ipcs prints (0x80000000 and up) is the same key.
    k = PyNumber_Index(key)
    if k < -0x80000000 or k > 0xFFFFFFFF:
        raise OverflowError(
            f"key {k} does not fit in key_t (32 bits: -2**31 <= key < 2**32)")
    if k > 0x7FFFFFFF:
        k -= 0x100000000
    return <key_t>k


cdef inline int as_shmid(object shmid) except? -1:
    v = PyNumber_Index(shmid)
    if v < 0 or v > 0x7FFFFFFF:
        raise OverflowError(f"shmid {v} is out of range (0 <= shmid < 2**31)")
    return <int>v


cdef inline long long as_owner_id(object value, str name) except? -2:
    # A uid or gid for IPC_SET; -1 keeps the current one.
    v = PyNumber_Index(value)
    if v < -1 or v > 0xFFFFFFFE:
        raise OverflowError(f"{name} {v} is out of range (-1 keeps the current {name})")
    return <long long>v
