# Python.h: what Cython's own cpython.* declarations do not offer. Only what
# sysvshm uses.
cdef extern from "Python.h":
    # PyLong_AsSsize_t without Cython's error check, for the fast paths of
    # __getitem__/__setitem__: they test PyErr_Occurred() and clear it themselves.
    Py_ssize_t PyLong_AsSsize_t_unchecked "PyLong_AsSsize_t"(object) noexcept
