"""C2P, complete-to-partial 4D distillation (paper section 3.2-3.3; the authors' code by default).

A student trunk reads a partial clip and gives one feature per frame, f̂_i. A teacher reads the
complete clip of the same frames and gives f_i. L_geo pulls f̂_i to f_i; for each temporal
offset k of the window, a predictor M_k maps f̂_i to a guess of f_{i+k} (L_time). Both are
InfoNCE losses over the frames of the clip at temperature 0.07:
  total = 0.5 L_geo + 0.5 mean_k L_time(k).

Where the authors' code and the paper's text differ, the code (what produced the paper's
numbers) is the default and the text is a switch of `C2PConfig`; see its docstring.

Why the teacher does not collapse to a constant (every frame the same feature):
- shared (the code): teacher and student are one network and gradients flow through both;
  collapse is prevented only by the contrastive denominator, whose negatives are the clip's
  other frames: features must tell the frames of a clip apart.
- separate (the paper's text): the same argument, with a weaker teacher of its own.
- ema: the teacher gets no gradient at all (BYOL's stop-gradient), so it can only follow the
  student slowly; the negatives still repel frames of a clip.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from c2p4d.models import Backbone, build_teacher
from c2p4d.train.config import C2PConfig

PARTIAL_VIEWS = {"c2p": 1, "c2c": 0, "p2p": 2}  # partial views a clip needs per distillation


class Predictor(nn.Module):
    """Linear -> BatchNorm (the code) or LayerNorm (the paper's text) -> ReLU -> Linear."""

    def __init__(self, dim: int, hidden: int, norm: str = "batch"):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.BatchNorm1d(hidden) if norm == "batch" else nn.LayerNorm(hidden),
            nn.ReLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[..., dim] -> [..., dim]; BatchNorm statistics are over every leading index."""
        return self.net(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def frame_nce(
    queries: torch.Tensor,
    keys: torch.Tensor,
    anchors: torch.Tensor,
    offset: int,
    *,
    form: str = "code",
    half_window: int = 1,
    batch_negatives: bool = False,
    temperature: float = 0.07,
) -> torch.Tensor:
    """InfoNCE of queries [B,Q,D] (frame anchors[q] of each clip) against keys [B,T,D].

    The positive of query q is key frame anchors[q] + offset of the same clip. Its candidates:
    - form "code": the keys of every anchor's positive (the clip's frames shifted by offset),
      the positive among them: a cross-entropy over the clip's frames;
    - form "paper" (Eq. 1-2): keys more than half_window frames away from the anchor; the
      positive is not in the denominator;
    - batch_negatives adds every key frame of the batch's other clips to either.
    Returns the mean over all queries.
    """
    b, q, _ = queries.shape
    t = keys.shape[1]
    positives = anchors + offset
    frames = torch.arange(t, device=keys.device)
    if form == "code":
        in_clip = torch.zeros(t, dtype=torch.bool, device=keys.device)
        in_clip[positives] = True
        in_clip = in_clip.expand(q, t)
    else:
        in_clip = (frames[None, :] - anchors[:, None]).abs() > half_window
    similarity = (
        torch.einsum(
            "bqd,ctd->bqct", F.normalize(queries.float(), dim=-1), F.normalize(keys.float(), dim=-1)
        )
        / temperature
    )
    same_clip = torch.eye(b, dtype=torch.bool, device=keys.device)[:, None, :, None]
    denominator = same_clip & in_clip[None, :, None, :]
    if batch_negatives:
        denominator = denominator | ~same_clip
    clip_index = torch.arange(b, device=keys.device)
    positive = similarity[
        clip_index[:, None], torch.arange(q)[None, :], clip_index[:, None], positives
    ]
    logits = similarity.masked_fill(~denominator, float("-inf")).flatten(2)
    return (torch.logsumexp(logits, dim=-1) - positive).mean()


def check_clip_length(config: C2PConfig, frames: int) -> None:
    """Refuse clips too short for the window: every offset and every negative needs frames."""
    reach = max((abs(k) for k in config.offsets), default=0)
    needed = reach + 2
    if config.loss == "paper" and not config.batch_negatives:
        needed = max(needed, 2 * config.half_window + 2)
    if frames < needed:
        raise ValueError(
            f"clips of {frames} frames are too short for window {config.window} with the "
            f"{config.loss} loss: use at least {needed} frames (data.clip_frames)"
        )


class C2P(nn.Module):
    """Student, teacher and predictors; `forward` returns the loss terms of one batch."""

    def __init__(self, student: Backbone, config: C2PConfig, backbone: str):
        super().__init__()
        self.config = config
        self.student = student
        dim = student.config.dim
        keys = [str(k) for k in config.offsets] if config.predictor == "per-offset" else ["all"]
        if not config.offsets:
            keys = []
        self.predictors = nn.ModuleDict(
            {k: Predictor(dim, config.predictor_hidden, config.predictor_norm) for k in keys}
        )
        self.teacher: nn.Module | None = None
        if config.teacher == "ema":
            self.teacher = copy.deepcopy(student).requires_grad_(False)
        elif config.teacher == "separate":
            model = student.config
            self.teacher = build_teacher(
                backbone,
                model.task,
                symmetric=config.teacher_arch == "symmetric",
                **_backbone_fields(model),
            )

    def predictor(self, offset: int) -> Predictor:
        return self.predictors[str(offset) if self.config.predictor == "per-offset" else "all"]

    def teacher_frames(self, clip: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """f_i [B,T,D]: the teacher's per-frame features of the teacher's clip."""
        config = self.config
        network = self.student if config.teacher == "shared" else self.teacher
        if config.teacher == "ema":
            with torch.no_grad():
                return self._teacher_of(network, clip, features).detach()
        return self._teacher_of(network, clip, features)

    def _teacher_of(
        self, network: nn.Module, clip: torch.Tensor, features: torch.Tensor | None
    ) -> torch.Tensor:
        if self.config.teacher == "separate" or self.config.teacher_arch == "symmetric":
            return network.frame_features(clip, features)
        return network.embedding_frame_features(clip, features, self.config.teacher_time)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms of a batch: "loss" (the total), "geo", one "t{k:+d}" per offset, and the
        gauge "teacher" with its "teacher_chance"."""
        return self.losses(*inputs_for(batch, self.config.distillation))

    def losses(
        self,
        student_clip: torch.Tensor,
        teacher_clip: torch.Tensor,
        student_features: torch.Tensor | None = None,
        teacher_features: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The loss terms of student and teacher clips (see `forward`), and the gauge "teacher".

        "teacher" is L_geo with the teacher's own frames as queries, without gradient: how well
        the teacher tells a clip's frames apart. Near chance, "teacher_chance" (the gauge of a
        teacher that gives every frame one feature: ln T for the code's loss), its frames are
        nearly one feature and L_geo has nothing to pull the student towards; on the `msr`
        `small` trunk the asymmetric teacher is there untrained and trained (DESIGN.md).
        """
        config = self.config
        student = self.student.frame_features(student_clip, student_features)
        teacher = self.teacher_frames(teacher_clip, teacher_features)
        t = student.shape[1]
        nce = dict(
            form=config.loss,
            half_window=config.half_window,
            batch_negatives=config.batch_negatives,
            temperature=config.temperature,
        )
        frames = torch.arange(t, device=student.device)
        terms = {"geo": frame_nce(student, teacher, frames, 0, **nce)}
        with torch.no_grad():  # a gauge, not a loss: see `losses`' docstring
            terms["teacher"] = frame_nce(teacher, teacher, frames, 0, **nce)
            one_feature = torch.ones_like(teacher)
            terms["teacher_chance"] = frame_nce(one_feature, one_feature, frames, 0, **nce)
        for k in config.offsets:
            anchors = frames[max(0, -k) : t - max(0, k)]
            predicted = self.predictor(k)(student[:, anchors])
            terms[f"t{k:+d}"] = frame_nce(predicted, teacher, anchors, k, **nce)
        time_terms = [terms[f"t{k:+d}"] for k in config.offsets]
        if time_terms:
            total = (
                config.geo_weight * terms["geo"]
                + (1 - config.geo_weight) * torch.stack(time_terms).mean()
            )
        else:
            total = terms["geo"]
        return {"loss": total, **terms}

    @torch.no_grad()
    def update_teacher(self) -> None:
        """After an optimiser step: the EMA teacher moves toward the student."""
        if self.config.teacher != "ema":
            return
        m = self.config.ema_momentum
        for target, online in zip(
            self.teacher.parameters(), self.student.parameters(), strict=True
        ):
            target.mul_(m).add_(online.detach(), alpha=1 - m)
        for target, online in zip(self.teacher.buffers(), self.student.buffers(), strict=True):
            target.copy_(online)


def _backbone_fields(config: object) -> dict[str, object]:
    """Every field of a backbone config except its task, to build a twin of it."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "task"}


def inputs_for(
    batch: dict[str, torch.Tensor], distillation: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(student clip, teacher clip, student features, teacher features) of a loader batch."""
    complete, features = batch["complete"], batch.get("features")
    if distillation == "c2c":
        return complete, complete, features, features
    partial, partial_features = batch["partial"], batch.get("partial_features")
    first, second = _view(partial_features, 0), _view(partial_features, 1)
    if distillation == "c2p":
        return partial[:, 0], complete, first, features
    return partial[:, 0], partial[:, 1], first, second


def _view(features: torch.Tensor | None, i: int) -> torch.Tensor | None:
    return None if features is None else features[:, i]
