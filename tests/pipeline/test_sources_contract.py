"""The contract every registered source keeps, checked for each name `sources.available()`
lists, so that a new adapter is checked the moment it is registered: it is registered under its
own name, a bad value of an option it has is a DataError naming the dataset and the option, and
an unknown option is a DataError naming it and listing the options there are."""

from __future__ import annotations

import dataclasses

import pytest

from c2p4d.pipeline import sources
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sources.base import MAXIMUMS, Source, SourceConfig
from c2p4d.pipeline.sources.released import ReleasedSource

NAMES = sources.available()
# Written out here, not read from the registry: a dataset that drops out of it fails this.
EXPECTED = {
    "folder",
    "hoi4d",
    "hoi4d-semseg",
    "mocap",
    "msr-action3d",
    "synth-gesture",
    "synth-hoi",
    "synth-street",
    "synthia",
}
# The lower bounds of each dataset's integer options (besides points_per_frame: 8).
MINIMUMS = {
    "mocap": dict(
        num_sequences=1,
        frames_per_sequence=8,
        clips_per_sequence=1,
        image_width=32,
        image_height=24,
    ),
    "msr-action3d": dict(min_frames=1),
    "synth-gesture": dict(
        gestures=1,
        episodes=1,
        val_subjects=0,
        min_frames=24,
        max_frames=24,
        image_width=32,
        image_height=24,
    ),
    "synth-hoi": dict(num_sequences=1, frames_per_sequence=24, image_width=32, image_height=24),
    "synth-street": dict(num_sequences=1, frames_per_sequence=3, image_width=32, image_height=24),
}


def test_the_registry_lists_every_dataset():
    assert set(NAMES) == EXPECTED


@pytest.mark.parametrize("name", NAMES)
def test_its_lower_bounds_are_these(name):
    assert sources.source_class(name).config_class.minimums == MINIMUMS.get(name, {})


@pytest.mark.parametrize("name", NAMES)
def test_registered_under_its_name(name):
    cls = sources.source_class(name)
    assert issubclass(cls, Source) and cls.name == name
    assert issubclass(cls.config_class, SourceConfig)
    source = sources.get_source(name)  # the defaults are valid
    assert type(source) is cls
    assert source.points_per_frame == source.config.points_per_frame > 0


def _bad_values(name: str) -> list[tuple[str, object, str]]:
    """(option, bad value, what the message says) for the options every source has and each
    integer option with a lower bound (its `minimums`) or an upper one (MAXIMUMS)."""
    config = sources.source_class(name).config_class
    cases: list[tuple[str, object, str]] = [
        ("points_per_frame", 0, "at least 8"),
        ("points_per_frame", -8, "at least 8"),
        ("points_per_frame", 2047, "multiple of 8"),
        ("points_per_frame", True, "integer"),
        ("points_per_frame", 2048.0, "integer"),
        ("points_per_frame", "2048", "integer"),
    ]
    fields = {f.name for f in dataclasses.fields(config)}
    for option, least in MINIMUMS.get(name, {}).items():
        cases += [
            (option, least - 1, f"at least {least}"),
            (option, True, "integer"),
            (option, float(least), "integer"),
            (option, str(least), "integer"),
        ]
    cases += [
        (option, most + 1, "at most") for option, most in MAXIMUMS.items() if option in fields
    ]
    return cases


@pytest.mark.parametrize(
    ("name", "option", "value", "says"),
    [(name, *case) for name in NAMES for case in _bad_values(name)],
)
def test_bad_option_is_a_data_error_naming_it(name, option, value, says):
    with pytest.raises(DataError) as caught:
        sources.get_source(name, **{option: value})
    message = str(caught.value)
    assert message.startswith(f"dataset {name!r}: option {option} must be"), message
    assert says in message and "\n" not in message


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_a_data_error_listing_the_options(name):
    options = ", ".join(
        sorted(f.name for f in dataclasses.fields(sources.source_class(name).config_class))
    )
    with pytest.raises(DataError) as caught:
        sources.get_source(name, num_frames=10, colour=3)
    assert str(caught.value) == (
        f"dataset {name!r} has no option colour, num_frames; its options are: {options}"
    )
    assert "points_per_frame" in options


@pytest.mark.parametrize(
    "name", [n for n in NAMES if issubclass(sources.source_class(n), ReleasedSource)]
)
def test_a_released_dataset_without_its_files_asks_for_them(name):
    with pytest.raises(DataError, match="pass --source DIR"):
        sources.get_source(name).index()
