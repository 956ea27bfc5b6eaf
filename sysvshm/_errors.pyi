# Internal: errno -> exception helpers used from Cython only.
