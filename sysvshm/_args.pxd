# Strict argument conversion, as PyArg_ParseTuple's "i" format does it.
#
# Cython converts a Python object to a C int through __int__, so a typed `int`
# parameter silently truncates 1.9 to 1; these helpers use __index__ only, and
# raise TypeError for floats and OverflowError for what does not fit.
from cpython.number cimport PyNumber_Index
from libc.limits cimport INT_MAX, INT_MIN


cdef inline int as_int(object value) except? -1:
    v = PyNumber_Index(value)
    if v > INT_MAX:
        raise OverflowError("signed integer is greater than maximum")
    if v < INT_MIN:
        raise OverflowError("signed integer is less than minimum")
    return <int>v
