"""build / config_for: reference presets, overrides, and one clear error for each bad input."""

import pytest
import torch

from c2p4d.models import build, build_student, build_teacher, config_for


# Parameter counts of the reference models (their repositories' layer shapes; see
# models/config.py), written here rather than read from the code under test.
@pytest.mark.parametrize(
    ("name", "task", "classes", "parameters"),
    [
        ("p4transformer", "msr", 20, 44_135_444),
        ("p4transformer", "hoi4d-actseg", 19, 65_121_299),
        ("p4transformer", "hoi4d-semseg", 49, 14_760_465),
        ("p4transformer", "synthia", 12, 14_755_692),
        ("pptr", "msr", 20, 128_093_204),
        ("pptr", "hoi4d-actseg", 19, 128_102_419),
        ("pptr", "hoi4d-semseg", 49, 32_413_457),
        ("pptr", "synthia", 12, 32_408_684),
    ],
)
def test_presets_have_the_reference_parameter_count(name, task, classes, parameters):
    with torch.device("meta"):
        model = build(name, task, classes)
    assert sum(p.numel() for p in model.parameters()) == parameters


@pytest.mark.parametrize(
    ("name", "task", "expected"),
    [
        (
            "p4transformer",
            "msr",
            dict(
                radius=0.7,
                spatial_strides=(32,),
                temporal_strides=(2,),
                temporal_paddings=((1, 0),),
                dim=1024,
                mixing="tokens",
            ),
        ),
        ("pptr", "msr", dict(radius=0.7, dim=2048, mlp_dim=1024, primitives=8)),
        (
            "p4transformer",
            "hoi4d-actseg",
            dict(radius=0.9, temporal_strides=(1,), temporal_paddings=((1, 1),), mixing="frames"),
        ),
        ("pptr", "hoi4d-actseg", dict(radius=0.9, dim=2048, mixing="frames", primitives=8)),
        (
            "p4transformer",
            "hoi4d-semseg",
            dict(xyz_features=True, in_channels=0, spatial_strides=(4, 4, 4, 2)),
        ),
        (
            "pptr",
            "hoi4d-semseg",
            dict(xyz_features=True, primitives=64, primitive_points=64, primitive_radius=0.9),
        ),
        (
            "p4transformer",
            "synthia",
            dict(
                in_channels=3, radius=0.9, neighbors=32, temporal_kernel_sizes=(1, 1, 3, 1), depth=2
            ),
        ),
    ],
)
def test_presets_follow_the_reference_settings(name, task, expected):
    config = config_for(name, task)
    assert {k: getattr(config, k) for k in expected} == expected


def test_encoder_radii_double_per_layer():
    layers = [layer["radius"] for layer in config_for("p4transformer", "synthia").encoder_layers()]
    assert layers == pytest.approx([0.9, 1.8, 3.6, 7.2])


def test_overrides_replace_fields():
    config = config_for("pptr", "msr", dim=64, temporal_strides=(1,))
    assert (config.dim, config.temporal_strides, config.depth) == (64, (1,), 5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build("pointnet", "msr", 3), "known backbones: p4transformer, pptr"),
        (lambda: build("pptr", "ntu", 3), "valid tasks: msr, hoi4d-actseg"),
        (lambda: build("pptr", "msr", 3, dims=8), "unknown pptr option.*dims.*valid options"),
        (lambda: build("p4transformer", "msr", 3, primitives=4), "primitives"),
        (lambda: build("pptr", "msr", 0), "num_classes"),
        (lambda: build("pptr", "msr", True), "num_classes"),
        (lambda: build_teacher("pptr", "mars"), "valid tasks"),
        (lambda: build("pptr", "hoi4d-actseg", 3, temporal_strides=(2,)), "one label per"),
        (lambda: build("pptr", "synthia", 3, mixing="frames"), "mixing='tokens'"),
        (lambda: build("pptr", "msr", 3, mixing="space"), "unknown mixing"),
        (lambda: build("pptr", "msr", 3, temporal_strides=(1, 1)), "2 entries for 1"),
        (lambda: build("pptr", "msr", 3, dim=0), "dim must be"),
        (lambda: build("pptr", "msr", 3, temporal_kernel_sizes=(2,)), "odd"),
        (lambda: build("p4transformer", "synthia", 3, decoder_channels=()), "decoder_channels"),
        (lambda: build("p4transformer", "msr", 3, temporal_pooling="mean"), "temporal_pooling"),
    ],
)
def test_bad_names_and_options_raise_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_inputs_raise_one_clear_error(tiny):
    msr = tiny.build("pptr", "msr")
    synthia = tiny.build("p4transformer", "synthia")
    clip, rgb = tiny.inputs("synthia")
    nan = clip.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"clip: expected xyz of shape \[B, T, N, 3\]"):
        msr(clip[..., :2])
    with pytest.raises(ValueError, match="NaN"):
        synthia(nan, rgb)
    with pytest.raises(ValueError, match="floating point"):
        msr(clip.long())
    with pytest.raises(ValueError, match="features is None"):
        synthia(clip)
    with pytest.raises(ValueError, match="in_channels=0"):
        msr(clip[:, :2], rgb[:, :2])
    with pytest.raises(ValueError, match="do not tile"):
        msr(clip)  # 3 frames + padding (1, 0) with kernel 3 and stride 2
    with pytest.raises(ValueError, match="do not split into 3 primitives"):
        tiny.build("pptr", "msr", primitives=3)(clip[:, :2])


def test_frame_features_need_a_frame_aligned_encoder(tiny):
    clip, _ = tiny.inputs("msr")
    with pytest.raises(ValueError, match="build_student"):
        tiny.build("p4transformer", "msr").frame_features(clip)
    student = build_student("p4transformer", "msr", **tiny.overrides("p4transformer", "msr"))
    with pytest.raises(ValueError, match="without a head"):
        student(clip)
