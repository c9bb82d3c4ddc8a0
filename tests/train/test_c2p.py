"""C2P's losses against hand computations and the authors' code, and what each switch changes."""

import math

import pytest
import torch
import torch.nn.functional as F

from c2p4d.models import Teacher, build_student
from c2p4d.train.c2p import C2P, Predictor, check_clip_length, frame_nce, inputs_for
from c2p4d.train.config import C2PConfig, ConfigError

TINY = dict(dim=16, depth=1, heads=2, dim_head=8, mlp_dim=16, radius=0.5, neighbors=8)
TINY["spatial_strides"] = (8,)


def tiny_c2p(**switches) -> C2P:
    torch.manual_seed(0)
    student = build_student("p4transformer", "hoi4d-actseg", **TINY)
    return C2P(student, C2PConfig(predictor_hidden=32, **switches), "p4transformer")


def clips(batch=2, frames=6, points=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, frames, points, 3, generator=g), torch.rand(
        batch, frames, points, 3, generator=g
    )


def authors_loss(student, teacher, offset):
    """pretrain_as.py's loop: per clip, CE over the (shifted) frames, then the mean over clips."""
    total = 0
    for s, f in zip(student, teacher, strict=True):
        if offset > 0:
            s, f = s[:-offset], f[offset:]
        elif offset < 0:
            s, f = s[-offset:], f[:offset]
        logits = F.normalize(s, dim=1) @ F.normalize(f, dim=1).T / 0.07
        total = total + F.cross_entropy(logits, torch.arange(len(s)))
    return total / len(student)


@pytest.mark.parametrize("offset", [0, 1, -1, 2])
def test_code_form_equals_the_authors_loop(offset):
    g = torch.Generator().manual_seed(offset + 5)
    s, f = torch.randn(3, 7, 5, generator=g), torch.randn(3, 7, 5, generator=g)
    anchors = torch.arange(max(0, -offset), 7 - max(0, offset))
    ours = frame_nce(s[:, anchors], f, anchors, offset)
    assert ours.item() == pytest.approx(authors_loss(s, f, offset).item(), rel=1e-5)


def test_paper_form_by_hand():
    # One clip, 4 frames, unit vectors in 2-D. Half window 1: the negatives of frame i are the
    # frames j with |j - i| > 1, and the positive is not in the denominator (Eq. 1).
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    f = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    tau = 0.5
    # similarities s_i . f_j: row 0 [1,1,0,0]; row 1 [0,0,1,1]; row 2 [1,1,0,0]; row 3 [0,0,1,1]
    # row 0: positive 1, negatives j=2,3 -> -(1/tau - log(e^0 + e^0))
    # row 1: positive 0, negatives j=3   -> -(0 - log(e^{1/tau}))
    # row 2: positive 0, negatives j=0   -> -(0 - log(e^{1/tau}))
    # row 3: positive 1, negatives j=0,1 -> -(1/tau - log(2))
    expected = (2 * (-(1 / tau) + math.log(2)) + 2 * (1 / tau)) / 4
    got = frame_nce(s, f, torch.arange(4), 0, form="paper", half_window=1, temperature=tau)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_batch_negatives_are_a_cross_entropy_over_the_batch():
    g = torch.Generator().manual_seed(1)
    s, f = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    logits = F.normalize(s.reshape(6, 4), dim=1) @ F.normalize(f.reshape(6, 4), dim=1).T / 0.07
    expected = F.cross_entropy(logits, torch.arange(6))
    got = frame_nce(s, f, torch.arange(3), 0, batch_negatives=True)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_total_weighs_geo_half_and_offsets_the_rest():
    model = tiny_c2p(window="5")
    student, teacher = clips()
    terms = model.losses(student, teacher)
    gauges = {"teacher", "teacher_chance"}
    assert set(terms) == {"loss", "geo", "t-2", "t-1", "t+1", "t+2"} | gauges
    time = torch.stack([terms[k] for k in ("t-2", "t-1", "t+1", "t+2")]).mean()
    assert terms["loss"].item() == pytest.approx((0.5 * terms["geo"] + 0.5 * time).item())
    assert set(tiny_c2p(window="1").losses(student, teacher)) == {"loss", "geo"} | gauges
    outer = tiny_c2p(window="5-outer").losses(student, teacher)
    assert set(outer) == {"loss", "geo", "t-2", "t+2"} | gauges


def test_predictor_switches():
    per_offset, single = tiny_c2p(), tiny_c2p(predictor="single")
    assert sorted(per_offset.predictors) == ["-1", "1"]
    assert per_offset.predictor(-1) is not per_offset.predictor(1)
    assert single.predictor(-1) is single.predictor(1)
    layer = tiny_c2p(predictor_norm="layer").predictor(1)
    assert any(isinstance(m, torch.nn.LayerNorm) for m in layer.modules())
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in per_offset.predictor(1).modules())
    x = torch.randn(2, 5, 16)
    assert Predictor(16, 8)(x).shape == x.shape


def test_shared_teacher_is_the_students_embedding():
    model = tiny_c2p()
    student, teacher = clips()
    assert model.teacher is None
    expected = model.student.embedding_frame_features(teacher)
    assert torch.equal(model.teacher_frames(teacher, None), expected)
    symmetric = tiny_c2p(teacher_arch="symmetric")
    assert torch.equal(
        symmetric.teacher_frames(teacher, None), symmetric.student.frame_features(teacher)
    )
    # Gradients reach the student through the teacher's branch too (the code's form).
    model.teacher_frames(teacher, None).sum().backward()
    grads = [p.grad for p in model.student.encoder.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_a_teacher_without_time_tells_frames_apart_by_their_points_only():
    still = clips(frames=1)[1].expand(2, 5, 32, 3)  # five frames of one unchanging scene
    with_time = tiny_c2p().teacher_frames(still, None)
    assert (with_time[:, 1:] - with_time[:, :1]).abs().amax() > 1e-3  # t alone sets them apart
    without = tiny_c2p(teacher_time=False).teacher_frames(still, None)
    assert torch.allclose(without, without[:, :1].expand_as(without), atol=1e-6)
    moving = clips(frames=5)[1]
    frames = tiny_c2p(teacher_time=False).teacher_frames(moving, None)
    assert (frames[:, 1:] - frames[:, :1]).abs().amax() > 1e-3
    with pytest.raises(ConfigError, match="teacher_time=false needs the shared or EMA"):
        C2PConfig(teacher="separate", teacher_time=False)


def test_the_teacher_gauge_is_chance_when_the_teachers_frames_are_one_feature():
    still = clips(frames=1)[1].expand(2, 5, 32, 3)
    blind = tiny_c2p(teacher_time=False).losses(still, still)["teacher"]
    assert blind.item() == pytest.approx(math.log(5), abs=1e-4)
    timed = tiny_c2p().losses(still, still)
    frames = tiny_c2p().teacher_frames(still, None)
    assert timed["teacher"].item() == pytest.approx(
        frame_nce(frames, frames, torch.arange(5), 0).item(), rel=1e-6
    )
    assert timed["teacher"].item() < math.log(5) - 1e-3
    assert not timed["teacher"].requires_grad


@pytest.mark.parametrize(
    ("options", "chance"),
    [
        ({}, math.log(5)),  # the code's loss: a cross-entropy over the clip's 5 frames
        ({"batch_negatives": True}, math.log(2 * 5)),  # and the other clip's
        # the paper's: the frames 2+ away from each anchor, 3 for anchors 0 and 4, else 2
        ({"loss": "paper"}, (2 * math.log(3) + 3 * math.log(2)) / 5),
    ],
)
def test_the_gauges_chance_is_the_gauge_of_one_feature_for_every_loss(options, chance):
    student, teacher = clips(frames=5)
    terms = tiny_c2p(**options).losses(student, teacher)
    assert terms["teacher_chance"].item() == pytest.approx(chance, abs=1e-5)


def test_separate_teacher_is_a_p4dconv_network_of_its_own():
    model = tiny_c2p(teacher="separate")
    assert isinstance(model.teacher, Teacher)
    symmetric = tiny_c2p(teacher="separate", teacher_arch="symmetric")
    assert type(symmetric.teacher) is type(symmetric.student)
    assert symmetric.teacher is not symmetric.student


def test_ema_teacher_follows_the_student_without_gradients():
    model = tiny_c2p(teacher="ema", ema_momentum=0.5)
    assert not any(p.requires_grad for p in model.teacher.parameters())
    student, teacher = clips()
    model.losses(student, teacher)["loss"].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    before = [p.clone() for p in model.teacher.parameters()]
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    model.update_teacher()
    for old, new, online in zip(
        before, model.teacher.parameters(), model.student.parameters(), strict=True
    ):
        assert torch.allclose(new, 0.5 * old + 0.5 * online)


def test_inputs_by_distillation():
    complete = torch.zeros(2, 4, 8, 3)
    partial = torch.stack([torch.ones(2, 4, 8, 3), 2 * torch.ones(2, 4, 8, 3)], 1)
    batch = {"complete": complete, "partial": partial}
    s, t, _, _ = inputs_for(batch, "c2p")
    assert s.eq(1).all() and t.eq(0).all()
    s, t, _, _ = inputs_for({"complete": complete}, "c2c")
    assert s is complete and t is complete
    s, t, _, _ = inputs_for(batch, "p2p")
    assert s.eq(1).all() and t.eq(2).all()


def test_clips_too_short_for_the_window_are_refused():
    check_clip_length(C2PConfig(), 3)
    with pytest.raises(ValueError, match="too short"):
        check_clip_length(C2PConfig(window="5"), 3)
    with pytest.raises(ValueError, match="at least 4 frames"):
        check_clip_length(C2PConfig(loss="paper"), 3)


def test_unknown_switch_values_are_refused():
    with pytest.raises(ConfigError, match="c2p.distillation='x2y' is not one of: c2p, c2c, p2p"):
        C2PConfig(distillation="x2y")
    with pytest.raises(ConfigError, match="c2p.window"):
        C2PConfig(window="7")
