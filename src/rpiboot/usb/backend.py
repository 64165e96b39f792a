"""Choose the libusb library: ``$RPIBOOT_LIBUSB``, libusb-package's bundled one, or the system's."""

from __future__ import annotations

import logging
import os
import sys

from rpiboot.errors import InputError, RpibootError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)

LIBUSB_ENV = "RPIBOOT_LIBUSB"
# libusb-package's file name for its bundled library, by sys.platform (default: .so)
_BUNDLED_NAMES = {"darwin": "libusb-1.0.dylib", "win32": "libusb-1.0.dll"}


def _backend_from_path(path: str) -> Any:
    import usb.backend.libusb1 as libusb1

    return libusb1.get_backend(find_library=lambda _name: path)


def _loaded_library() -> str | None:
    """Path of the libusb pyusb actually loaded (pyusb keeps the first one per process)."""
    import usb.backend.libusb1 as libusb1

    return getattr(getattr(libusb1, "_lib", None), "_name", None)


def bundled_library_path() -> str | None:
    """The library file libusb-package installed, found without importing the package
    (its import pulls in importlib_resources: ~20 ms of every run's start-up CPU)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("libusb_package")
    except (ImportError, ValueError):
        return None
    name = _BUNDLED_NAMES.get(sys.platform, "libusb-1.0.so")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _bundled_backend() -> tuple[Any, str] | None:
    try:
        path = bundled_library_path()
        if path is not None:
            backend = _backend_from_path(path)
        else:  # not a plain file (e.g. a zipped install): let the package extract it
            import libusb_package

            path = str(libusb_package.get_library_path())
            backend = libusb_package.get_libusb1_backend()
    except ImportError:
        return None
    except Exception as exc:  # a broken wheel must not stop the system fallback
        log.debug("libusb-package could not load its library: %s", exc)
        return None
    if backend is None:
        return None
    loaded = _loaded_library()
    if loaded and loaded != path:  # another libusb was loaded earlier in this process
        return backend, f"libusb ({loaded}, loaded earlier in this process)"
    return backend, f"libusb-package bundled libusb ({path})"


def _system_backend() -> tuple[Any, str] | None:
    import usb.backend.libusb1 as libusb1

    backend = libusb1.get_backend()
    if backend is None:
        return None
    return backend, f"system libusb ({_loaded_library() or 'found by ctypes.util'})"


def load_backend() -> tuple[Any, str]:
    """The pyusb backend to use and a human description of which libusb it loaded.

    Order: ``$RPIBOOT_LIBUSB`` (a path to libusb-1.0.so/.dylib/.dll), the library bundled
    with libusb-package, then the system libusb.  Raises RpibootError if none loads.
    """
    override = os.environ.get(LIBUSB_ENV)
    if override:
        if not os.path.exists(override):
            raise InputError(
                f"{LIBUSB_ENV}={override}: no such file",
                hint=f"Point {LIBUSB_ENV} at a libusb-1.0 shared library, or unset it.",
            )
        backend = _backend_from_path(override)
        if backend is None:
            raise InputError(
                f"{LIBUSB_ENV}={override}: could not load it as libusb-1.0",
                hint="Check that the file is a libusb-1.0 library for this CPU, or unset it.",
            )
        loaded = _loaded_library()
        if loaded and os.path.realpath(loaded) != os.path.realpath(override):
            log.warning("libusb %s was loaded earlier in this process; %s=%s takes effect "
                        "only in a new process", loaded, LIBUSB_ENV, override)
            return backend, f"libusb ({loaded}, loaded earlier in this process)"
        return backend, f"libusb from {LIBUSB_ENV} ({override})"
    for candidate in (_bundled_backend, _system_backend):
        found = candidate()
        if found is not None:
            log.debug("using %s", found[1])
            return found
    raise RpibootError(
        "no usable libusb-1.0 library found",
        hint="Reinstall rpiboot (it bundles libusb through libusb-package), install your "
        f"system's libusb-1.0 package, or set {LIBUSB_ENV}=/path/to/libusb-1.0.so.",
    )
