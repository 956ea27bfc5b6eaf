"""SharedMemoryManager, and install()/uninstall() which make
``multiprocessing.shared_memory`` this package's: the parts of
sysvshm.shared_memory that need ``multiprocessing.managers`` and the resource
tracker, loaded on first use (sysvshm.shared_memory's ``__getattr__``), as the
stdlib keeps its manager in managers.py.
"""
import os
import sys
from multiprocessing import managers as _managers

from sysvshm import _blocks
from sysvshm.shared_memory import ShareableList, SharedMemory

__all__ = ["SharedMemoryManager", "SharedMemoryServer", "install", "uninstall"]

_PUBLIC_MODULE = "sysvshm.shared_memory"  # where users (and pickle) find these

_StdServer = _managers.SharedMemoryServer


class _SegmentTracker:
    """The names a manager made, unlinked at its shutdown (in the server process)."""

    def __init__(self):
        self.segment_names = []

    def register_segment(self, segment_name):
        self.segment_names.append(segment_name)

    def destroy_segment(self, segment_name):
        self.segment_names.remove(segment_name)
        try:
            segment = SharedMemory(segment_name)
        except FileNotFoundError:
            return  # already unlinked by its user
        segment.close()
        segment.unlink()

    def unlink(self):
        for segment_name in self.segment_names[:]:
            self.destroy_segment(segment_name)


class SharedMemoryServer(_StdServer):
    """The manager's server process: it tracks and finally unlinks the segments."""

    def __init__(self, *args, **kwargs):
        _managers.Server.__init__(self, *args, **kwargs)
        self.shared_memory_context = _SegmentTracker()


class SharedMemoryManager(_managers.BaseManager):
    """A manager whose SharedMemory() and ShareableList() blocks are unlinked at shutdown.

    Unlike the stdlib's, it starts no resource-tracker process.
    """

    _Server = SharedMemoryServer

    def get_server(self):
        """A Server instance under this manager's control."""
        if self._state.value != _managers.State.INITIAL:
            raise _managers.ProcessError("Already started SharedMemoryServer")
        return self._Server(self._registry, self._address, self._authkey, self._serializer)

    def _tracked(self, make, name_of, undo):
        # Connected first, as the stdlib's: a manager that is not running raises
        # before anything is made, so nothing is left behind.
        with self._Client(self._address, authkey=self._authkey) as conn:
            made = make()
            try:
                _managers.dispatch(conn, None, "track_segment", (name_of(made),))
            except BaseException:
                undo(made)
                raise
        return made

    def SharedMemory(self, size):
        """A new SharedMemory of *size* bytes, tracked by this manager."""
        return self._tracked(lambda: SharedMemory(None, create=True, size=size),
                             lambda sms: sms.name, _undo_block)

    def ShareableList(self, sequence):
        """A new ShareableList of *sequence*, tracked by this manager."""
        return self._tracked(lambda: ShareableList(sequence),
                             lambda sl: sl.shm.name, lambda sl: _undo_block(sl.shm))


def _undo_block(sms):
    sms.unlink()
    sms.close()


# -- making multiprocessing.shared_memory this module ----------------------------------

_saved: "dict[str, object]" = {}  # what install() replaced, for uninstall()
# POSIX ("/dev/shm") names this process let through to the stdlib's tracker.
_posix_names: "set[str]" = set()


def _is_posix_object(name):
    # A stdlib block is a file in /dev/shm; a sysvshm block never is.
    try:
        return os.path.exists("/dev/shm/" + name.lstrip("/"))
    except (TypeError, ValueError, AttributeError):
        return False


def _tracker_register(name, rtype):
    if rtype == "shared_memory":
        if not _is_posix_object(name):
            return None  # a sysvshm block: nothing for the stdlib's tracker to do
        _posix_names.add(name)
    return _saved["resource_tracker.register"](name, rtype)


def _is_sysvshm_block(name):
    # From the kernel's metadata only: nothing is attached.
    try:
        return _blocks.exists_by_metadata(name)
    except (TypeError, ValueError, OSError):
        return False


def _tracker_unregister(name, rtype):
    if rtype == "shared_memory":
        if name not in _posix_names and _is_sysvshm_block(name):
            # A sysvshm block (code written for the stdlib unregisters its
            # blocks): the tracker never had it, and would print a KeyError.
            # Anything else goes through: the stdlib's unlink() unregisters
            # after shm_unlink(), when its file is already gone.
            return None
        _posix_names.discard(name)
    return _saved["resource_tracker.unregister"](name, rtype)


def install():
    """Make ``multiprocessing.shared_memory`` (and SharedMemoryManager) this module.

    Code that imports ``multiprocessing.shared_memory`` afterwards, third-party
    libraries included, gets sysvshm's classes. It does not reach objects
    imported before the call (``from multiprocessing.shared_memory import
    SharedMemory`` done earlier keeps the stdlib class), nor processes started
    with spawn or forkserver unless they call install() too (for instance from
    sitecustomize). The stdlib's resource tracker is told to ignore
    ``register``/``unregister`` calls for "shared_memory" resources that are
    not POSIX objects (code written for the stdlib makes them for its blocks;
    sysvshm's blocks need no tracker). Returns None; uninstall() undoes it.
    """
    import multiprocessing
    import multiprocessing.managers
    from multiprocessing import resource_tracker

    if "multiprocessing.shared_memory" not in _saved:
        _saved["multiprocessing.shared_memory"] = sys.modules.get("multiprocessing.shared_memory")
        _saved["managers.SharedMemoryManager"] = getattr(
            multiprocessing.managers, "SharedMemoryManager", None)
        _saved["resource_tracker.register"] = resource_tracker.register
        _saved["resource_tracker.unregister"] = resource_tracker.unregister
    me = sys.modules[_PUBLIC_MODULE]
    sys.modules["multiprocessing.shared_memory"] = me
    multiprocessing.shared_memory = me
    multiprocessing.managers.SharedMemoryManager = SharedMemoryManager
    resource_tracker.register = _tracker_register
    resource_tracker.unregister = _tracker_unregister


def uninstall():
    """Undo install()."""
    import multiprocessing
    import multiprocessing.managers
    from multiprocessing import resource_tracker

    if "multiprocessing.shared_memory" not in _saved:
        return
    original = _saved.pop("multiprocessing.shared_memory")
    manager = _saved.pop("managers.SharedMemoryManager")
    resource_tracker.register = _saved.pop("resource_tracker.register")
    resource_tracker.unregister = _saved.pop("resource_tracker.unregister")
    if original is None:
        sys.modules.pop("multiprocessing.shared_memory", None)
        if getattr(multiprocessing, "shared_memory", None) is sys.modules[_PUBLIC_MODULE]:
            del multiprocessing.shared_memory
    else:
        sys.modules["multiprocessing.shared_memory"] = original
        multiprocessing.shared_memory = original
    multiprocessing.managers.SharedMemoryManager = manager


for _public in (SharedMemoryServer, SharedMemoryManager, install, uninstall):
    _public.__module__ = _PUBLIC_MODULE
del _public
