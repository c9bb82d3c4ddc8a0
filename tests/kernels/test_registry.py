"""Registry: the one idiom for datasets, backbones and presets."""

from __future__ import annotations

import json

import pytest

from c2p4d.kernels.registry import Registry


class Unknown(Exception):
    pass


def test_get_available_and_the_error_that_lists_the_names():
    registry: Registry[int] = Registry("colour", Unknown, {"red": 1})
    assert registry.register("blue", 2) == 2
    assert registry.get("red") == 1 and registry.get("blue") == 2
    assert registry.available() == ["blue", "red"] == list(registry)
    assert "red" in registry and "green" not in registry
    with pytest.raises(Unknown, match="unknown colour 'green'; known colours: blue, red"):
        registry.get("green")
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        registry.register("red", 3)


def test_a_lazy_entry_is_imported_on_first_get_only():
    registry: Registry[object] = Registry("function")
    registry.register_lazy("dumps", "json:dumps")
    registry.register_lazy("broken", "c2p4d_no_such_module:thing")
    assert registry.available() == ["broken", "dumps"]  # nothing imported to list them
    assert registry.get("dumps") is json.dumps
    for _ in range(2):  # a failed import fails again, and the name stays listed
        with pytest.raises(ModuleNotFoundError):
            registry.get("broken")
    assert "broken" in registry
    with pytest.raises(ValueError, match="function 'dumps' is registered twice"):
        registry.register_lazy("dumps", "json:dumps")
