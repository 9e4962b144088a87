"""Each package's ``__all__`` names exactly its public attributes (httpx's habit)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "medbridge",
    "medbridge.dicom",
    "medbridge.volume",
    "medbridge.errors",
    "medbridge.formats",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    """``__all__`` is sorted, resolves, and lists every public non-module attribute."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for attr in exported:
        assert hasattr(module, attr), attr
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, type(importlib))
        and getattr(value, "__module__", name).startswith("medbridge")
        and attr not in {"annotations", "logging"}
    }
    assert public <= set(exported) | {"__version__"}
