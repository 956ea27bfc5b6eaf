"""Named numpy arrays in shared memory: create once, attach anywhere by name."""
from typing import Any, List, NamedTuple, Tuple, Union

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["NamedArray", "ArrayInfo", "create", "attach", "delete", "list"]

_ShapeLike = Union[int, Tuple[int, ...], List[int]]

class NamedArray(np.ndarray[Any, Any]):
    """A numpy.ndarray whose memory is a named shared block."""

class ArrayInfo(NamedTuple):
    """What list() reports of one array."""
    name: str
    shape: Tuple[int, ...]
    dtype: np.dtype[Any]
    nbytes: int
    nattch: int
    tracked: bool

def create(name: str, shape: _ShapeLike, dtype: DTypeLike = ..., *, order: str = ...,
           fill: Any = ..., mode: int = ..., track: bool = ...) -> NamedArray:
    """Create the array *name* of *shape* and *dtype* in a new shared block."""

def attach(name: str, *, readonly: bool = ...) -> NamedArray:
    """The array *name*, as its creator made it."""

def delete(name: str) -> None:
    """Remove the array *name*; its memory goes when its last array does."""

def list() -> List[ArrayInfo]:
    """An ArrayInfo for every array this user may read, ordered by name."""
