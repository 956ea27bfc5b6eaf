"""What importing sysvshm loads: only what the imported module needs.

Short-lived processes (pool workers, the sysvshm command) pay for every module on
each start. The time itself is measured by benchmarks/run.py, not asserted here;
this checks which modules an import brings in, in a fresh interpreter.
"""
import subprocess
import sys

import pytest

# Each costs more than the whole of `import sysvshm` and none is needed to import it.
HEAVY = ("typing", "re", "enum", "ast", "contextlib", "inspect", "resource", "multiprocessing")
# shared_memory's users attach blocks: no threads, hashing library or text patterns.
HEAVY_FOR_BLOCKS = HEAVY + ("threading", "hashlib", "secrets", "functools", "collections")

CHILD = """
import sys
before = set(sys.modules)
import {module}
{then}
print("\\n".join(sorted(set(sys.modules) - before)))
"""


def new_modules(module, then=""):
    """The modules that `import module` (and then the statement *then*) load."""
    result = subprocess.run([sys.executable, "-I", "-c", CHILD.format(module=module, then=then)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert module in loaded  # the import did happen in the child
    return loaded


def heavy_ones(loaded, heavy):
    """The modules of *heavy* among *loaded*. On 3.9, which has no int | None, the
    result types (sysvshm._types) import typing for their Optional[int]
    annotations, as typing.NamedTuple did: there typing and what it imports are
    allowed once sysvshm._types is loaded (3.9 is past its end of life)."""
    allowed = set()
    if sys.version_info < (3, 10) and "sysvshm._types" in loaded:
        allowed = set(new_modules("typing"))
    return [name for name in loaded if name.split(".")[0] in heavy and name not in allowed]


@pytest.mark.parametrize("module, heavy", [("sysvshm", HEAVY), ("sysvshm.mmap", HEAVY),
                                           ("sysvshm.shared_memory", HEAVY_FOR_BLOCKS),
                                           ("sysvshm.sync", HEAVY_FOR_BLOCKS)])
def test_import_loads_none_of_the_heavy_modules(module, heavy):
    assert heavy_ones(new_modules(module), heavy) == []


def test_the_inventory_is_loaded_on_first_use():
    assert "sysvshm._inventory" not in new_modules("sysvshm")
    loaded = new_modules("sysvshm", then="sysvshm.segments()")
    assert "sysvshm._inventory" in loaded
    assert heavy_ones(loaded, HEAVY) == []


def test_the_result_types_are_loaded_on_first_use():
    assert "sysvshm._types" not in new_modules("sysvshm.mmap")
    assert "sysvshm._types" in new_modules("sysvshm", then="sysvshm.shmctl(0, sysvshm.IPC_INFO)")


def test_the_lazy_names_are_the_inventory_functions_and_result_types():
    import sysvshm
    from sysvshm import _inventory, _types

    for name in ("segments", "limits", "remove"):
        assert getattr(sysvshm, name) is getattr(_inventory, name)
        assert name in dir(sysvshm) and name in sysvshm.__all__
    for name in ("stat_result", "shminfo", "shm_info", "limits_result"):
        assert getattr(sysvshm, name) is getattr(_types, name)
        assert name in dir(sysvshm) and name in sysvshm.__all__
    with pytest.raises(AttributeError, match="has no attribute 'segment'"):
        sysvshm.segment  # noqa: B018
