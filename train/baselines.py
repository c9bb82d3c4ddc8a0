"""The self-supervised baselines C2P is compared with (paper tables 1-4), on the same trunk.

Both follow `C2P`'s interface: built from a student trunk, `forward(batch)` returns "loss" and
named terms, `update_teacher()` runs after every optimiser step, and the trunk is `student`
(fine-tuning loads the checkpoint's "student.*" tensors). Both read the batch's complete clips.

- VideoMAE (Tong et al. 2022), "easily extended to 4D data": the trunk's embedding gives
  space-time tokens (or frame features, where the trunk's last transformer mixes frames); a
  `mask_ratio` share of them is dropped, the trunk's last transformer encodes the rest, and a
  light decoder reconstructs the points of each dropped token (Chamfer distance, Point-MAE's
  target). Masking happens after the P4DConv tokeniser, the only cut the trunk offers: the
  masked tokens' features never reach the encoder, but the tokeniser's ball (radius) and
  temporal kernel (3 frames) let visible neighbours see some of the masked points. VideoMAE's
  tubes (`masking="tube"`: the same regions of space hidden in every frame) keep the previous
  and next frames' tokens of a hidden region hidden too. Hidden tokens' places reach the decoder
  and on one body nearly answer the reconstruction; `masking="frames"` hides whole frames, places
  and all, and reconstructs each from the visible frames.
- STRL (Huang et al. 2021), BYOL in space-time: two sub-clips of a clip at random frame offsets,
  each augmented anew; an online trunk + projector + predictor regresses a moving-average
  target's projection of the other sub-clip.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from c2p4d.kernels import farthest_point_sample, gather, group, knn
from c2p4d.models import Backbone
from c2p4d.models.backbone import PositionEmbedding, Trunk, mix
from c2p4d.models.pptr import chunk_primitives
from c2p4d.models.transformer import Transformer
from c2p4d.train.config import STRLConfig, VideoMAEConfig


def chamfer_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Point sets a [..., P, 3], b [..., Q, 3] -> [...]: the sum of both directions' means."""
    a_to_b, b_to_a = nearest_squared(a, b)
    return a_to_b + b_to_a


def nearest_squared(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """([...] mean over a of the squared distance to the nearest point of b, the same b to a)."""
    squared = (a.unsqueeze(-2) - b.unsqueeze(-3)).square().sum(-1)  # [..., P, Q]
    return squared.amin(-1).mean(-1), squared.amin(-2).mean(-1)


def random_masks(
    batch: int, length: int, ratio: float, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(visible [B, L-K], masked [B, K]) sorted token indices, a fresh draw per clip.

    K = round(ratio * L), kept within 1..L-1 so that something is both seen and predicted.
    """
    if length < 2:
        raise ValueError(f"masking needs at least 2 tokens per clip, got {length}")
    masked = min(length - 1, max(1, round(ratio * length)))
    order = torch.rand(batch, length, device=device).argsort(1)
    return order[:, masked:].sort(1).values, order[:, :masked].sort(1).values


def tube_masks(centres: torch.Tensor, ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Token centres [B,T,M,3] -> (visible [B, T(M-K)], masked [B, TK]) sorted indices into
    the clip's T*M tokens: VideoMAE's tube masking for points.

    The middle frame's tokens cut space into regions (each point goes to its nearest token);
    K = round(ratio * M) of them, drawn per clip, are hidden. In every frame the K tokens most
    inside hidden regions (nearest a hidden centre relative to a shown one) are masked, so a
    region stays hidden as the points move through it.
    """
    b, t, m, _ = centres.shape
    if m < 2:
        raise ValueError(f"tube masking needs at least 2 tokens per frame, got {m}")
    k = min(m - 1, max(1, round(ratio * m)))
    reference = centres[:, t // 2]
    hidden = torch.zeros(b, m, dtype=torch.bool, device=centres.device)
    hidden.scatter_(1, torch.rand(b, m, device=centres.device).argsort(1)[:, :k], True)
    distance = torch.cdist(centres.reshape(b, t * m, 3).float(), reference.float())
    far = distance.max() + 1
    to_hidden = distance.masked_fill(~hidden[:, None], far).amin(-1)
    to_shown = distance.masked_fill(hidden[:, None], far).amin(-1)
    order = (to_hidden - to_shown).reshape(b, t, m).argsort(-1)
    index = order + m * torch.arange(t, device=centres.device)[:, None]
    return index[..., k:].flatten(1).sort(1).values, index[..., :k].flatten(1).sort(1).values


def take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x [B, L, ...], index [B, K] -> [B, K, ...]: each clip's own rows."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


def token_anchors(embedded: Trunk) -> torch.Tensor:
    """[B,T,M,A,3]: the anchors each token stands for, one (A=1) or a PPTr pseudo-primitive's.

    PPTr's clip and frame trunks pool runs of A consecutive FPS anchors into a primitive token
    and keep no position of their own; their anchors are spread over the frame.
    """
    if embedded.xyz is not None:
        return embedded.xyz.unsqueeze(3)
    return chunk_primitives(embedded.levels[-1].xyz, embedded.features.shape[2])


@torch.no_grad()
def neighbourhood_targets(clip: torch.Tensor, anchors: torch.Tensor, points: int) -> torch.Tensor:
    """Clip [B,T,N,3], anchors [B,T,M,A,3] -> [B,T,M,A*k,3]: each token's points.

    Each anchor brings its k = ceil(points / A) nearest points of its frame; coordinates are
    relative to the mean of the token's anchors (the anchor itself when A=1).
    """
    b, t, n, _ = clip.shape
    m, a = anchors.shape[2:4]
    k = min(n, math.ceil(points / a))
    rows = clip.reshape(b * t, n, 3)
    _, idx = knn(k, rows, anchors.reshape(b * t, m * a, 3))
    near = group(rows, idx).reshape(b, t, m, a * k, 3)
    return near - anchors.mean(3).unsqueeze(3)


@torch.no_grad()
def frame_targets(clip: torch.Tensor, points: int) -> torch.Tensor:
    """Clip [B,T,N,3] -> [B,T,1,points,3]: an FPS subsample of each frame about its centroid."""
    b, t, n, _ = clip.shape
    rows = clip.reshape(b * t, n, 3)
    sample = gather(rows, farthest_point_sample(rows, points)).reshape(b, t, points, 3)
    return (sample - clip.mean(2, keepdim=True)).unsqueeze(2)


class VideoMAE(nn.Module):
    """Masked reconstruction of space-time tokens (or frames) with the trunk as encoder."""

    def __init__(self, student: Backbone, config: VideoMAEConfig, backbone: str):
        """backbone (the name) is unused: the signature is every method module's."""
        super().__init__()
        self.config = config
        self.student = student
        width = config.decoder_dim
        heads = max(1, width // 64)  # VideoMAE's decoder heads are 64 wide
        # MAE's and Point-MAE's encoders end with a LayerNorm before the decoder; the trunk's
        # pre-norm transformer has none.
        self.encoder_norm = nn.LayerNorm(student.config.dim)
        self.to_decoder = nn.Linear(student.config.dim, width)
        self.mask_token = nn.Parameter(torch.randn(width) * 0.02)
        self.position = PositionEmbedding(width)
        self.decoder = Transformer(width, config.decoder_depth, heads, width // heads, 4 * width)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 3 * config.points_per_token)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms: "loss", the masked tokens' Chamfer distance, and its two directions."""
        clip, features = batch["complete"], batch.get("features")
        embedded = self.student.embedding(clip, features)
        tokens = embedded.features
        if tokens.shape[1] != clip.shape[1]:
            raise ValueError(
                f"VideoMAE: the trunk maps {clip.shape[1]} frames to {tokens.shape[1]}; build "
                "the student with a frame-aligned config (build_student does)"
            )
        points, ratio = self.config.points_per_token, self.config.mask_ratio
        per_frame = tokens.dim() == 3  # the trunk mixes frame features: each frame is one token
        if per_frame:
            tokens = tokens.unsqueeze(2)
            centres = clip.mean(2, keepdim=True)
        else:
            anchors = token_anchors(embedded)
            centres = anchors.mean(3)
        if self.config.masking == "frames":
            return self.hide_frames(tokens, centres, frame_targets(clip, points))
        targets = (
            frame_targets(clip, points)
            if per_frame
            else neighbourhood_targets(clip, anchors, points)
        )
        b, t, m = tokens.shape[:3]
        if self.config.masking == "tube" and m > 1:
            visible, masked = tube_masks(centres, ratio)
        else:  # a frame is one token: masking frames is all a tube could do
            visible, masked = random_masks(b, t * m, ratio, tokens.device)
        return self.reconstruct(
            tokens.flatten(1, 2),
            self.position(centres).flatten(1, 2),
            take(targets.flatten(1, 2), masked),
            visible,
            masked,
        )

    def hide_frames(
        self, tokens: torch.Tensor, centres: torch.Tensor, targets: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Tokens [B,T,M,D] at centres [B,T,M,3], each frame's points [B,T,1,Q,3] -> loss
        terms of reconstructing whole hidden frames.

        Hidden frames leave no token behind: one query a frame stands in for them, placed in
        time only, and it reconstructs the frame's points about their centroid. Token masking
        hands the decoder every hidden token's place, and on one body the anchors outline the
        shape the patches lie on (DESIGN.md); here only the visible frames' places are given.
        """
        b, t, m, width = tokens.shape
        shown, hidden = random_masks(b, t, self.config.mask_ratio, tokens.device)
        when = self.position(torch.zeros_like(centres[:, :, :1]))  # (0, 0, 0, t)
        positions = torch.cat(
            [take(self.position(centres), shown).flatten(1, 2), take(when, hidden).flatten(1, 2)],
            1,
        )
        seen = shown.shape[1] * m
        queries = tokens.new_zeros(b, hidden.shape[1], width)  # replaced by the mask token
        order = torch.arange(positions.shape[1], device=tokens.device).expand(b, -1)
        return self.reconstruct(
            torch.cat([take(tokens, shown).flatten(1, 2), queries], 1),
            positions,
            take(targets, hidden).flatten(1, 2),
            order[:, :seen],
            order[:, seen:],
        )

    def reconstruct(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        targets: torch.Tensor,
        visible: torch.Tensor,
        masked: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Tokens [B,L,D], decoder positions [B,L,W], the masked tokens' true points [B,K,Q,3],
        the visible and masked token indices [B,*] -> loss terms."""
        b, length, _ = tokens.shape
        kept = take(tokens, visible)
        if self.config.positions_only:  # the control withholds the encoder: do not run it
            encoded = torch.zeros_like(kept)
        else:
            encoded = mix(self.student.mixer, kept, self.student.config.emb_relu)
        decoded = self.to_decoder(self.encoder_norm(encoded))
        full = self.mask_token.to(decoded.dtype).expand(b, length, -1)
        full = full.scatter(1, visible.unsqueeze(-1).expand_as(decoded), decoded)
        out = self.norm(self.decoder(full + positions))
        predicted = self.head(take(out, masked)).unflatten(-1, (-1, 3))
        to_true, to_predicted = nearest_squared(predicted.float(), targets)
        loss = (to_true + to_predicted).mean()
        return {"loss": loss, "pred2true": to_true.mean(), "true2pred": to_predicted.mean()}

    def update_teacher(self) -> None:
        """No teacher: nothing to move."""


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's 2 - 2 cos(p, z), averaged over leading axes; z is a target (no gradient)."""
    cos = (F.normalize(p.float(), dim=-1) * F.normalize(z.detach().float(), dim=-1)).sum(-1)
    return (2 - 2 * cos).mean()


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target = momentum * target + (1 - momentum) * online for parameters; buffers copied."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)
    for t, o in zip(target.buffers(), online.buffers(), strict=True):
        t.copy_(o)


def shifted_clips(
    clip: torch.Tensor, features: torch.Tensor | None, max_shift: int
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Two sub-clips of T - max_shift frames of each clip, each from a start in 0..max_shift."""
    b, t = clip.shape[:2]
    length = t - max_shift
    if length < 1:
        raise ValueError(f"STRL: clips of {t} frames are too short for max_shift={max_shift}")
    rows = torch.arange(b, device=clip.device)[:, None]
    pair = []
    for _ in range(2):
        start = torch.randint(0, max_shift + 1, (b, 1), device=clip.device)
        frames = start + torch.arange(length, device=clip.device)
        pair.append((clip[rows, frames], None if features is None else features[rows, frames]))
    return pair


def augment_clip(
    clip: torch.Tensor,
    scale: tuple[float, float] = (0.8, 1.2),
    jitter: float = 0.01,
    jitter_clip: float = 0.05,
) -> torch.Tensor:
    """[B,T,N,3]: per clip, rotate about +z by a uniform angle and scale, both about the clip's
    centre, then jitter every point (Gaussian, clipped)."""
    b = clip.shape[0]
    angle = torch.rand(b, device=clip.device) * (2 * math.pi)
    cos, sin = angle.cos(), angle.sin()
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    turn = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], -1).view(b, 3, 3)
    factor = torch.empty(b, device=clip.device).uniform_(*scale)
    matrix = (turn * factor.view(b, 1, 1)).to(clip.dtype)
    centre = clip.mean((1, 2), keepdim=True)
    moved = torch.einsum("btnj,bij->btni", clip - centre, matrix) + centre
    noise = (torch.randn_like(clip) * jitter).clamp(-jitter_clip, jitter_clip)
    return moved + noise


def projection_mlp(dim: int, hidden: int, out: int) -> nn.Sequential:
    """BYOL's projector and predictor: Linear -> BatchNorm1d -> ReLU -> Linear."""
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out)
    )


class STRL(nn.Module):
    """Online trunk + projector + predictor against a moving-average trunk + projector.

    BatchNorm in the projector needs at least 2 clips per batch (per process).
    """

    def __init__(self, student: Backbone, config: STRLConfig, backbone: str):
        """backbone (the name) is unused: the signature is every method module's."""
        super().__init__()
        self.config = config
        self.student = student
        hidden, out = config.projector_hidden, config.projection_dim
        self.projector = projection_mlp(student.config.dim, hidden, out)
        self.predictor = projection_mlp(out, hidden, out)
        self.target_student = copy.deepcopy(student).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms: "loss" = byol_12 + byol_21, BYOL's symmetrised sum (online i, target j)."""
        clip, features = batch["complete"], batch.get("features")
        (first, first_features), (second, second_features) = shifted_clips(
            clip, features, self.config.max_shift
        )
        # Both views in one pass, as BYOL implementations do: BatchNorm sees all 2B clips.
        views = torch.cat([augment_clip(first), augment_clip(second)])
        view_features = None if features is None else torch.cat([first_features, second_features])
        online = self.predictor(
            self.projector(self.student.frame_features(views, view_features).amax(1))
        )
        with torch.no_grad():
            target = self.target_projector(
                self.target_student.frame_features(views, view_features).amax(1)
            )
        p1, p2 = online.chunk(2)
        z1, z2 = target.chunk(2)
        terms = {"byol_12": byol_loss(p1, z2), "byol_21": byol_loss(p2, z1)}
        return {"loss": terms["byol_12"] + terms["byol_21"], **terms}

    def update_teacher(self) -> None:
        """After an optimiser step: the target trunk and projector move toward the online ones."""
        m = self.config.ema_momentum
        ema_update(self.target_student, self.student, m)
        ema_update(self.target_projector, self.projector, m)
