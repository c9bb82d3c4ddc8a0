"""Every backbone x task: shapes, gradients, point-order invariance, determinism, overfitting."""

import pytest
import torch

from c2p4d.models import SEGMENTATION_TASKS, build_student, build_teacher

CLASSES = 5


def expected_shape(task: str, batch: int, frames: int, points: int) -> tuple[int, ...]:
    if task == "msr":
        return (batch, CLASSES)
    if task == "hoi4d-actseg":
        return (batch, frames, CLASSES)
    return (batch, frames, points, CLASSES)


def test_logits_have_the_task_shape(case, tiny):
    name, task = case
    model = tiny.build(name, task, CLASSES)
    clip, features = tiny.inputs(task, 3)
    out = model(clip, features)
    assert out.shape == expected_shape(task, *clip.shape[:3])
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_double_precision_runs_end_to_end(case, tiny):
    name, task = case
    model = tiny.build(name, task, CLASSES).double()
    clip, features = tiny.inputs(task)
    out = model(clip.double(), None if features is None else features.double())
    assert out.dtype == torch.float64


def test_frame_features_of_student_and_teachers(case, tiny):
    """One D-wide feature per input frame from student, asymmetric and symmetric teacher."""
    name, task = case
    options = tiny.overrides(name, task)
    clip, features = tiny.inputs(task)
    student = build_student(name, task, **options)
    teacher = build_teacher(name, task, **options)
    symmetric = build_teacher(name, task, symmetric=True, **options)
    b, t = clip.shape[:2]
    for model in (student, teacher, symmetric):
        assert model.frame_features(clip, features).shape == (b, t, options["dim"])
    assert not any(
        n.startswith(("transformer", "intra", "inter")) for n, _ in teacher.named_parameters()
    )
    assert type(symmetric) is type(student)


def test_gradients_reach_every_parameter(case, tiny):
    name, task = case
    model = tiny.build(name, task, CLASSES)
    clip, features = tiny.inputs(task)
    out = model(clip, features)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not dead


def test_student_gradients_reach_every_parameter(case, tiny):
    name, task = case
    student = build_student(name, task, **tiny.overrides(name, task))
    clip, features = tiny.inputs(task)
    student.frame_features(clip, features).square().sum().backward()
    dead = [n for n, p in student.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not dead


def test_invariant_to_point_order(case, tiny):
    """Permuting points (index 0 fixed) permutes per-point outputs and changes nothing else.

    P4DConv depends on point order in two places only: FPS starts at index 0, and a ball query
    keeps the first k hits in index order. With index 0 fixed and k >= points per frame (every
    hit kept, padding repeats a hit that max pooling already sees), order must not matter.
    In eval mode: training-mode BatchNorm statistics count the padding slots too, as the
    reference's do, and which hit pads depends on index order. PPTr's segmentation primitives
    take every point (a padded duplicate would weigh twice in the intra-primitive attention).
    """
    name, task = case
    extra = dict(neighbors=64)
    if name == "pptr":
        extra.update(primitive_points=tiny.points, primitive_radius=10.0)
    model = tiny.build(name, task, CLASSES, **extra).eval()
    clip, features = tiny.inputs(task)
    n = clip.shape[2]
    perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(n - 1)])
    out = model(clip, features)
    out_perm = model(clip[:, :, perm], None if features is None else features[:, :, perm])
    if task in SEGMENTATION_TASKS:
        out = out[:, :, perm]
    torch.testing.assert_close(out_perm, out, rtol=1e-4, atol=1e-5)


def test_seeded_models_are_deterministic(case, tiny):
    name, task = case
    clip, features = tiny.inputs(task)
    first = tiny.build(name, task, CLASSES, seed=7)
    second = tiny.build(name, task, CLASSES, seed=7)
    out = first(clip, features)
    assert torch.equal(out, second(clip, features))
    assert torch.equal(out, first(clip, features))


@pytest.mark.parametrize("position_time", [True, False])
def test_position_time_decides_whether_the_frame_index_reaches_the_logits(
    case, tiny, position_time
):
    """The position embedding's t column changes the logits exactly when position_time is on
    (PPTr's segmentation groups decoded points into primitives and embeds no positions)."""
    name, task = case
    reads_positions = not (name == "pptr" and task in SEGMENTATION_TASKS)
    clip, features = tiny.inputs(task)
    model = tiny.build(
        name, task, CLASSES, position_embedding=True, position_time=position_time
    ).eval()
    with torch.no_grad():
        before = model(clip, features)
        model.pos_embedding.weight[:, 3] += 1.0
        after = model(clip, features)
    assert torch.equal(before, after) is not (position_time and reads_positions)


def test_overfits_a_few_clips(case, tiny):
    name, task = case
    model = tiny.build(name, task, CLASSES)
    clip, features = tiny.inputs(task, 4, "overfit")
    g = torch.Generator().manual_seed(1)
    if task == "synthia":
        features = clip.clone()  # colour that tells the classes apart
    if task in SEGMENTATION_TASKS:
        target = (clip[..., 0] > 0.5).long() + 2 * (clip[..., 1] > 0.5).long()
    else:
        target = torch.randint(CLASSES, expected_shape(task, *clip.shape[:3])[:-1], generator=g)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(
            model(clip, features).reshape(-1, CLASSES), target.reshape(-1)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_student_trunk_loads_into_the_task_model(case, tiny):
    """The pretrained student's weights map 1:1 onto the fine-tuning model's trunk."""
    name, task = case
    student = build_student(name, task, **tiny.overrides(name, task))
    model = tiny.build(name, task, CLASSES, seed=3)
    fresh = model.load_trunk(student.state_dict())
    assert fresh and all(
        n.startswith(("head", "decoder", "classifier", "propagate")) for n in fresh
    )
    trunk = {k: v for k, v in model.state_dict().items() if k not in fresh}
    assert trunk.keys() <= student.state_dict().keys()
    for key, value in trunk.items():
        assert torch.equal(value, student.state_dict()[key]), key
    # The same trunk computes the same frame features in a (frame-aligned) task model.
    c = student.config
    aligned = tiny.build(
        name,
        task,
        CLASSES,
        seed=4,
        temporal_strides=c.temporal_strides,
        temporal_paddings=c.temporal_paddings,
    )
    aligned.load_trunk(student.state_dict())
    clip, features = tiny.inputs(task)
    torch.testing.assert_close(
        aligned.frame_features(clip, features), student.frame_features(clip, features)
    )


def test_load_trunk_rejects_another_config(tiny):
    student = build_student("pptr", "msr", **tiny.overrides("pptr", "msr", dim=32))
    model = tiny.build("pptr", "msr", CLASSES)
    with pytest.raises(ValueError, match="shape mismatch"):
        model.load_trunk(student.state_dict())
    with pytest.raises(ValueError, match="lacks"):
        model.load_trunk({})
