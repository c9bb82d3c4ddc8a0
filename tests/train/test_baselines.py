"""The VideoMAE and STRL baselines: their losses by hand, masking, targets, EMA, and learning."""

import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from c2p4d.models import build_student
from c2p4d.train.baselines import (
    STRL,
    VideoMAE,
    augment_clip,
    byol_loss,
    chamfer_distance,
    ema_update,
    frame_targets,
    neighbourhood_targets,
    random_masks,
    shifted_clips,
    tube_masks,
)
from c2p4d.train.config import STRLConfig, VideoMAEConfig

TINY = dict(dim=16, depth=1, heads=2, dim_head=8, mlp_dim=16, radius=0.5, neighbors=8)
TINY["spatial_strides"] = (8,)
# (backbone, task, extra overrides): frame features (actseg) and tokens (msr), both backbones.
# PPTr's 32 / 8 = 4 tokens per frame form 2 pseudo-primitives.
STUDENTS = {
    "p4-frames": ("p4transformer", "hoi4d-actseg", {}),
    "pptr-frames": ("pptr", "hoi4d-actseg", {"primitives": 2}),
    "p4-tokens": ("p4transformer", "msr", {}),
    "pptr-tokens": ("pptr", "msr", {"primitives": 2}),
}
# Tokens masked at 0.75 in a clip of 6 frames: 4 of 6 frames (round(4.5) = 4), 18 of 6 x 4
# anchors' tokens, 9 of 6 x 2 primitives; in tubes, in each frame 3 of 4 or 1 of 2 (one stays
# visible).
MASKED = {"p4-frames": 4, "pptr-frames": 4, "p4-tokens": 18, "pptr-tokens": 9}
TUBES = {"p4-frames": 4, "pptr-frames": 4, "p4-tokens": 6 * 3, "pptr-tokens": 6 * 1}
FRAMES = dict.fromkeys(STUDENTS, 4)  # whole frames: one query for each of 4 hidden frames
MAE = VideoMAEConfig(decoder_dim=16, decoder_depth=1, points_per_token=4)
BYOL = STRLConfig(projector_hidden=32, projection_dim=8, max_shift=2, ema_momentum=0.5)


def tiny_videomae(kind="p4-frames", config=MAE, **overrides) -> VideoMAE:
    torch.manual_seed(0)
    name, task, extra = STUDENTS[kind]
    return VideoMAE(build_student(name, task, **TINY, **extra, **overrides), config, name)


def tiny_strl(kind="p4-frames", **overrides) -> STRL:
    torch.manual_seed(0)
    name, task, extra = STUDENTS[kind]
    return STRL(build_student(name, task, **TINY, **extra, **overrides), BYOL, name)


def clip(batch=2, frames=6, points=32, seed=0):
    return torch.rand(batch, frames, points, 3, generator=torch.Generator().manual_seed(seed))


def test_chamfer_distance_by_hand():
    a = torch.tensor([[0.0, 0, 0], [2, 0, 0]])
    b = torch.tensor([[0.0, 1, 0]])
    # a -> b: squared distances 1 and 5, mean 3; b -> a: nearest is (0,0,0) at 1. Total 4.
    assert chamfer_distance(a, b).item() == pytest.approx(4.0)
    # Leading axes are kept: a second pair, a = {(0,0,0), (1,0,0)}, b = {(0,0,0)}:
    # a -> b: (0 + 1) / 2 = 0.5; b -> a: 0. Total 0.5.
    pairs_a = torch.stack([a, torch.tensor([[0.0, 0, 0], [1, 0, 0]])])
    pairs_b = torch.stack([b, torch.zeros(1, 3)])
    assert chamfer_distance(pairs_a, pairs_b).tolist() == pytest.approx([4.0, 0.5])


def test_chamfer_distance_is_zero_for_the_same_set_and_symmetric():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 7, 3, generator=g), torch.randn(3, 5, 3, generator=g)
    assert chamfer_distance(a, a[:, torch.randperm(7, generator=g)]).abs().max() == 0
    assert torch.allclose(chamfer_distance(a, b), chamfer_distance(b, a))
    assert (chamfer_distance(a, b) > 0).all()


def test_byol_loss_values_and_scale_invariance():
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert byol_loss(x, 3 * x).item() == pytest.approx(0.0)
    assert byol_loss(x, -x).item() == pytest.approx(4.0)
    assert byol_loss(x, y).item() == pytest.approx(2.0)
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    assert byol_loss(5 * p, 0.1 * z).item() == pytest.approx(byol_loss(p, z).item(), rel=1e-5)


def test_byol_loss_stops_the_gradient_at_the_target():
    p, z = torch.randn(2, 4, requires_grad=True), torch.randn(2, 4, requires_grad=True)
    byol_loss(p, z).backward()
    assert p.grad is not None and z.grad is None


def test_ema_update_by_hand():
    target, online = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        target.weight.copy_(torch.tensor([1.0, 3.0]))
        online.weight.copy_(torch.tensor([3.0, -1.0]))
        online.running_mean.copy_(torch.tensor([7.0, 8.0]))
    ema_update(target, online, 0.5)
    assert target.weight.tolist() == [2.0, 1.0]  # 0.5 * 1 + 0.5 * 3, 0.5 * 3 + 0.5 * -1
    assert target.running_mean.tolist() == [7.0, 8.0]  # buffers are copied
    assert online.weight.tolist() == [3.0, -1.0]


def test_random_masks_split_each_clip_at_the_ratio():
    torch.manual_seed(0)
    visible, masked = random_masks(3, 10, 0.75)
    assert masked.shape == (3, 8) and visible.shape == (3, 2)  # round(7.5) = 8
    for v, m in zip(visible, masked, strict=True):
        assert sorted(torch.cat([v, m]).tolist()) == list(range(10))
    assert not torch.equal(masked[0], masked[1]) or not torch.equal(masked[1], masked[2])
    assert random_masks(1, 4, 0.99)[1].shape == (1, 3)  # something stays visible
    with pytest.raises(ValueError, match="at least 2 tokens"):
        random_masks(1, 1, 0.5)


@settings(max_examples=30, deadline=None)
@given(
    b=st.integers(1, 3),
    t=st.integers(1, 5),
    m=st.integers(2, 9),
    ratio=st.floats(0.05, 0.95),
    seed=st.integers(0, 1000),
)
def test_tube_masks_hide_the_same_regions_in_every_frame(b, t, m, ratio, seed):
    torch.manual_seed(seed)
    moving = torch.randn(b, t, m, 3)
    still = moving[:, :1].expand(b, t, m, 3)  # the same points in every frame
    k = min(m - 1, max(1, round(ratio * m)))
    for centres in (moving, still):
        visible, masked = tube_masks(centres, ratio)
        assert masked.shape == (b, t * k) and visible.shape == (b, t * (m - k))
        for v, h in zip(visible, masked, strict=True):
            assert sorted(torch.cat([v, h]).tolist()) == list(range(t * m))
            assert ((h // m).bincount(minlength=t) == k).all()  # k masked in every frame
    per_frame = masked.reshape(b, t, k) % m  # still: each frame hides the same tokens
    assert (per_frame == per_frame[:, :1]).all()


def test_tube_masks_need_two_tokens_a_frame():
    with pytest.raises(ValueError, match="at least 2 tokens per frame"):
        tube_masks(torch.zeros(1, 3, 1, 3), 0.5)


def test_neighbourhood_targets_are_nearest_points_about_the_token():
    # One frame of 4 points on the x axis; one token with anchor at 0, another of two anchors.
    frame = torch.tensor([0.0, 1, 3, 10])[:, None] * torch.tensor([1.0, 0, 0])
    clip_ = frame.view(1, 1, 4, 3)
    anchor = torch.zeros(1, 1, 1, 1, 3)
    near = neighbourhood_targets(clip_, anchor, 2)  # the 2 nearest of 0: 0 and 1
    assert near[..., 0].flatten().tolist() == [0.0, 1.0]
    pair = torch.tensor([[0.0, 0, 0], [10, 0, 0]]).view(1, 1, 1, 2, 3)
    # Each anchor brings ceil(2 / 2) = 1 point (itself), relative to the anchors' mean, x = 5.
    assert neighbourhood_targets(clip_, pair, 2)[..., 0].flatten().tolist() == [-5.0, 5.0]


def test_frame_targets_are_an_fps_subsample_about_the_centroid():
    frames = clip(batch=2, frames=3, points=16)
    targets = frame_targets(frames, 5)
    assert targets.shape == (2, 3, 1, 5, 3)
    absolute = targets.squeeze(2) + frames.mean(2, keepdim=True)
    # Every target is one of its frame's points, five distinct ones.
    distance = (absolute.unsqueeze(3) - frames.unsqueeze(2)).norm(dim=-1)
    assert distance.amin(-1).max() < 1e-6
    assert (distance.argmin(-1).sort(-1).values.diff(dim=-1) > 0).all()


@pytest.mark.parametrize(
    "masking, masked", [("random", MASKED), ("tube", TUBES), ("frames", FRAMES)]
)
@pytest.mark.parametrize("kind", list(STUDENTS))
def test_videomae_masks_the_ratio_and_trains_the_trunk(kind, masking, masked):
    model = tiny_videomae(kind, dataclasses.replace(MAE, masking=masking))
    seen = []
    model.head.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    terms = model({"complete": clip(), "label": torch.zeros(2)})
    loss = terms["loss"]
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert loss.item() == pytest.approx((terms["pred2true"] + terms["true2pred"]).item())
    assert seen == [(2, masked[kind], 3 * MAE.points_per_token)]
    loss.backward()
    for part in (model.student.encoder, model.student.mixer):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_videomae_decodes_the_encoded_tokens_whatever_their_scale():
    """As MAE's, the encoder's output is layer-normed before the decoder: the trunk gains
    nothing by growing its features."""
    model = tiny_videomae("p4-tokens")
    batch = {"complete": clip(), "label": torch.zeros(2)}
    torch.manual_seed(1)  # the same masks in both calls
    plain = model(batch)["loss"]
    model.student.mixer.register_forward_hook(lambda module, args, out: 100 * out)
    torch.manual_seed(1)
    assert model(batch)["loss"].item() == pytest.approx(plain.item(), rel=1e-4)


@pytest.mark.parametrize("positions_only", [False, True])
def test_videomae_positions_only_control_reconstructs_without_the_trunk(positions_only):
    """The control's loss is the same whatever the trunk's weights; the method's is not."""
    model = tiny_videomae("p4-tokens", dataclasses.replace(MAE, positions_only=positions_only))
    batch = {"complete": clip(), "label": torch.zeros(2)}
    torch.manual_seed(1)  # the same masks in both calls
    before = model(batch)["loss"].item()
    with torch.no_grad():
        for parameter in model.student.parameters():
            parameter.add_(torch.randn_like(parameter))
    torch.manual_seed(1)
    after = model(batch)["loss"].item()
    assert (after == pytest.approx(before, rel=1e-6)) == positions_only


@pytest.mark.parametrize("masking", ["random", "frames"])
def test_videomae_hidden_frames_give_the_decoder_no_place_of_theirs(masking):
    """With the encoder withheld, what reaches the decoder is places: moving the hidden
    frames' points changes its reconstruction under token masking, not under frame masking."""
    config = dataclasses.replace(MAE, masking=masking, positions_only=True)
    model = tiny_videomae("p4-tokens", config)
    torch.manual_seed(1)
    _, hidden = random_masks(2, 6, MAE.mask_ratio)  # the frames forward will hide
    seen = []
    model.head.register_forward_hook(lambda module, args, out: seen.append(out))
    frames = clip()
    moved = frames.clone()
    for row, index in enumerate(hidden):
        moved[row, index] = frames[row, index].flip(1) * 2 + 1
    for points in (frames, moved):
        torch.manual_seed(1)
        model({"complete": points, "label": torch.zeros(2)})
    assert torch.equal(seen[0], seen[1]) == (masking == "frames")


def test_strl_views_are_shifted_sub_clips():
    torch.manual_seed(0)
    frames = torch.arange(8.0).view(1, 8, 1, 1).expand(5, 8, 4, 3)
    for view, features in shifted_clips(frames, frames[..., :1], 3):
        assert view.shape == (5, 5, 4, 3) and features.shape == (5, 5, 4, 1)
        start = view[:, 0, 0, 0]
        assert ((start >= 0) & (start <= 3)).all()
        assert torch.equal(view[:, :, 0, 0], start[:, None] + torch.arange(5.0))
    with pytest.raises(ValueError, match="too short"):
        shifted_clips(frames, None, 8)


def test_strl_augmentation_is_a_scaled_turn_about_z():
    torch.manual_seed(0)
    original = clip(batch=3, frames=2, points=5)
    moved = augment_clip(original, jitter=0.0)
    centre = original.mean((1, 2), keepdim=True)
    assert torch.allclose(moved.mean((1, 2), keepdim=True), centre, atol=1e-6)
    ratio = (moved - centre).norm(dim=-1) / (original - centre).norm(dim=-1)
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio >= 0.8 - 1e-6) & (ratio <= 1.2 + 1e-6)).all()
    # z about the centre only scales; x and y turn.
    assert torch.allclose(
        (moved - centre)[..., 2], ratio[:, :1, :1] * (original - centre)[..., 2], atol=1e-5
    )
    # The same seed draws the same turn and scale, then the noise, clipped at 0.05.
    torch.manual_seed(1)
    clean = augment_clip(original, jitter=0.0)
    torch.manual_seed(1)
    noise = augment_clip(original, jitter=1.0, jitter_clip=0.05) - clean
    assert noise.abs().max().item() == pytest.approx(0.05, abs=1e-6)


@pytest.mark.parametrize("kind", ["p4-frames", "pptr-tokens"])
def test_strl_trains_the_online_trunk_and_not_the_target(kind):
    model = tiny_strl(kind)
    assert not any(p.requires_grad for p in model.target_student.parameters())
    terms = model({"complete": clip(batch=4)})
    assert set(terms) == {"loss", "byol_12", "byol_21"}
    loss = terms["loss"]
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert any(p.grad.abs().sum() > 0 for p in model.student.encoder.parameters())
    assert all(p.grad is None for p in model.target_student.parameters())
    assert all(p.grad is None for p in model.target_projector.parameters())
    before = [p.clone() for p in model.target_student.parameters()]
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    model.update_teacher()
    for old, new, online in zip(
        before, model.target_student.parameters(), model.student.parameters(), strict=True
    ):
        assert torch.allclose(new, 0.5 * old + 0.5 * online)


def fixed_loss(model, batch, seeds=range(4)) -> float:
    """The mean loss over a few fixed draws of the method's own randomness."""
    total = 0.0
    with torch.no_grad():
        for seed in seeds:
            torch.manual_seed(seed)
            total += model(batch)["loss"].item()
    return total / len(seeds)


@pytest.mark.parametrize(
    "make, batch",
    [
        (lambda: tiny_videomae("p4-tokens"), {"complete": clip()}),
        (lambda: tiny_videomae("pptr-frames"), {"complete": clip()}),
        (lambda: tiny_strl("p4-frames"), {"complete": clip(batch=4)}),
    ],
    ids=["videomae-tokens", "videomae-frames", "strl"],
)
def test_a_few_sgd_steps_lower_the_loss_on_a_fixed_batch(make, batch):
    model = make()
    before = fixed_loss(model, batch)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    torch.manual_seed(100)
    for _ in range(10):
        optimizer.zero_grad()
        model(batch)["loss"].backward()
        optimizer.step()
        model.update_teacher()
    after = fixed_loss(model, batch)
    assert math.isfinite(after) and after < 0.8 * before


def test_rgb_features_reach_both_methods():
    batch = {"complete": clip(batch=4), "features": clip(batch=4, seed=1)}
    other = dict(batch, features=clip(batch=4, seed=2))
    for model in (tiny_videomae(in_channels=3), tiny_strl(in_channels=3)):
        torch.manual_seed(0)
        loss = model(batch)["loss"]
        assert torch.isfinite(loss)
        loss.backward()
        assert all(p.grad is not None for p in model.student.encoder.parameters())
        assert fixed_loss(model, batch) != fixed_loss(model, other)
