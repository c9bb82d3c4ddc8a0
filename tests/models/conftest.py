"""Tiny configs of every backbone x task (few points, small widths) so model tests stay fast."""

from types import SimpleNamespace

import pytest
import torch

from c2p4d.models import BACKBONES, SEGMENTATION_TASKS, TASKS, build
from c2p4d.pipeline.seeding import seed_from

POINTS = 32
FRAMES = {"msr": 4, "hoi4d-actseg": 5, "hoi4d-semseg": 3, "synthia": 3}
_TRANSFORMER = dict(dim=16, depth=1, heads=2, dim_head=8, mlp_dim=16)
_TOKENS = dict(_TRANSFORMER, radius=0.5, neighbors=8, spatial_strides=(4,))
_SEGMENTATION = dict(
    _TRANSFORMER,
    radius=0.3,
    neighbors=8,
    spatial_strides=(2, 2, 2, 2),
    encoder_channels=((8,), (8,), (8,), ()),
    decoder_channels=((8,), (8,), (8,), (8,)),
)
CASES = [(name, task) for name in BACKBONES for task in TASKS]


def overrides(name: str, task: str, **extra) -> dict:
    """Config overrides that shrink (name, task) to a model of a few thousand parameters."""
    if task in SEGMENTATION_TASKS:
        tiny = dict(_SEGMENTATION)
        if name == "pptr":
            tiny.update(primitives=4, primitive_points=8, classifier_channels=(16,))
    else:
        tiny = dict(_TOKENS, primitives=2) if name == "pptr" else dict(_TOKENS)
    return {**tiny, **extra}


def inputs(task: str, batch: int = 2, *names) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A random clip [batch, T, POINTS, 3] in the unit cube (+ rgb-like features for synthia)."""
    g = torch.Generator().manual_seed(seed_from("tests.models", task, batch, *names))
    clip = torch.rand(batch, FRAMES[task], POINTS, 3, generator=g)
    features = torch.rand(*clip.shape, generator=g) if task == "synthia" else None
    return clip, features


def tiny_build(name: str, task: str, num_classes: int = 5, seed: int = 0, **extra):
    torch.manual_seed(seed)
    return build(name, task, num_classes, **overrides(name, task, **extra))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread: spinning OpenMP workers only wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=CASES, ids=[f"{n}-{t}" for n, t in CASES])
def case(request) -> tuple[str, str]:
    """Every (backbone, task) pair."""
    return request.param


@pytest.fixture
def tiny() -> SimpleNamespace:
    """Helpers: tiny.overrides(name, task), tiny.inputs(task), tiny.build(name, task, ...)."""
    return SimpleNamespace(overrides=overrides, inputs=inputs, build=tiny_build, points=POINTS)
