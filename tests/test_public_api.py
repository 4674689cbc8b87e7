from __future__ import annotations
import __future__

import types

import aioports


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name for name in dir(aioports)
        if not name.startswith("_")
        and not isinstance(getattr(aioports, name), (types.ModuleType, __future__._Feature))
    }  # fmt: skip
    assert set(aioports.__all__) - {"__version__"} == public
    assert list(aioports.__all__) == sorted(aioports.__all__, key=str)


def test_exported_objects_show_the_package_name() -> None:
    for name in aioports.__all__:
        obj = getattr(aioports, name)
        if isinstance(obj, type):
            assert obj.__module__ == "aioports", name


def test_version_is_a_release_string() -> None:
    parts = aioports.__version__.split(".")
    assert len(parts) == 3
    assert all(part.isdigit() for part in parts)
