"""Training configuration: plain validated dataclasses with the paper's defaults, and presets.

A run's config is a tree of frozen dataclasses; `preset(name)` gives `paper` (appendix C and the
authors' code) or `small` (sized so that 2 CPU cores learn something in minutes), and
`override(config, ["c2p.window=5", ...])` replaces leaves by dotted name, checking each value
against the field's type. The resolved tree is written into every run directory and checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from c2p4d.kernels.registry import Registry
from c2p4d.models import BACKBONES, TASKS


class ConfigError(ValueError):
    """A config value or option that does not exist or is out of range."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _choice(name: str, value: str, choices: typing.Iterable[str]) -> None:
    choices = tuple(choices)
    _check(value in choices, f"{name}={value!r} is not one of: {', '.join(choices)}")


# The pretraining methods (`c2p-train pretrain --method`), imported when a run builds one.
METHODS: Registry[type] = Registry("pretraining method", ConfigError)
METHODS.register_lazy("c2p", "c2p4d.train.c2p:C2P")
METHODS.register_lazy("videomae", "c2p4d.train.baselines:VideoMAE")
METHODS.register_lazy("strl", "c2p4d.train.baselines:STRL")

# What a method pretrains with unless an option says otherwise (`--method` and the ablation's
# rows apply it). VideoMAE's encoder gets its gradient through the decoder, at initialisation
# 1e-4 of the norm STRL's gets on msr's trunk: SGD moves it less than weight decay does, so it
# takes AdamW as MAE and Point-MAE do (lr 1e-3, weight decay 0.05).
METHOD_OPTIONS = {
    "videomae": ("optim.optimizer=adamw", "optim.lr=0.001", "optim.weight_decay=0.05"),
}


def method_options(method: str) -> tuple[str, ...]:
    """The override options that pretrain with `method` and its optimiser."""
    return (f"method={method}", *METHOD_OPTIONS.get(method, ()))


@dataclass(frozen=True)
class DataConfig:
    """What a clip is and how the store is streamed."""

    store: str = "data/synth-hoi.zarr"
    view_set: str | None = None  # a named set of partial views in the store; None = the default
    clip_frames: int = 150  # T; 0 = whole sequences
    frame_stride: int = 1
    points: int = 2048  # per frame, after resampling (student and teacher alike)
    clips_per_sequence: int = 1  # random starts per sequence per epoch
    workers: int = 2  # DataLoader workers
    shuffle_buffer: int = 64
    scale: tuple[float, float] = (0.8, 1.2)
    rotate: bool = True  # about the world's up, a uniform angle
    jitter: float = 0.01  # sigma of per-point noise, clipped at +-0.05 (PointNet's); 0 = off

    def __post_init__(self) -> None:
        for name in ("clip_frames", "workers"):
            _check(getattr(self, name) >= 0, f"data.{name} must be >= 0")
        for name in ("frame_stride", "points", "clips_per_sequence", "shuffle_buffer"):
            _check(getattr(self, name) >= 1, f"data.{name} must be >= 1")
        low, high = self.scale
        _check(0 < low <= high, f"data.scale must be 0 < low <= high, got {self.scale}")
        _check(self.jitter >= 0, "data.jitter must be >= 0")


@dataclass(frozen=True)
class ModelConfig:
    """Which backbone, for which task's trunk; None fields keep the task's reference value."""

    backbone: str = "pptr"
    task: str = "hoi4d-actseg"
    dim: int | None = None
    depth: int | None = None
    heads: int | None = None
    dim_head: int | None = None
    mlp_dim: int | None = None
    radius: float | None = None
    neighbors: int | None = None
    spatial_stride: int | None = None  # of the first P4DConv layer
    primitives: int | None = None  # PPTr only
    position_embedding: bool | None = None  # the (x, y, z, t) embedding added to tokens
    position_time: bool | None = None  # False: that embedding without t

    def __post_init__(self) -> None:
        _choice("model.backbone", self.backbone, BACKBONES)
        _choice("model.task", self.task, TASKS)
        _check(
            self.primitives is None or self.backbone == "pptr",
            "model.primitives is a PPTr option",
        )

    def overrides(self) -> dict[str, Any]:
        """Keyword overrides for `c2p4d.models.build` (fields left None are not overridden)."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("backbone", "task", "spatial_stride")
            and getattr(self, f.name) is not None
        }
        if self.spatial_stride is not None:
            from c2p4d.models import config_for

            strides = config_for(self.backbone, self.task).spatial_strides
            out["spatial_strides"] = (self.spatial_stride, *strides[1:])
        return out


# Temporal offsets distilled through predictors, and the half width of the window whose frames
# are not negatives (the paper's W_t). "5-outer" is Table 7's window 5 with t-2 and t+2 only.
WINDOWS: dict[str, tuple[tuple[int, ...], int]] = {
    "1": ((), 0),
    "3": ((-1, 1), 1),
    "5": ((-2, -1, 1, 2), 2),
    "5-outer": ((-2, 2), 2),
}


@dataclass(frozen=True)
class C2PConfig:
    """The method (paper section 3, the authors' code by default; every ablation is a switch).

    distillation: c2p (partial student, complete teacher), c2c (complete both), p2p (two
      different partial views of the same frames).
    teacher: shared (the code: the student's own network gives the teacher features, gradients
      through both), separate (the paper's text: a network of its own, trained jointly),
      ema (a moving average of the student, no gradient).
    teacher_arch: asymmetric (the teacher stops before the last transformer: the code's tube
      embedding; the paper's P4DConv-only teacher) or symmetric (the student's whole trunk).
    predictor: per-offset (one per temporal offset) or single (one for all offsets).
    predictor_norm: batch (the code) or layer (the paper's text).
    loss: code (cross-entropy over the clip's frames, positive in the denominator) or paper
      (Eq. 1-2: negatives only outside the window, positive not in the denominator).
    batch_negatives: also contrast against every frame of the batch's other clips.
    teacher_time: False drops the frame index t from the position embedding of an asymmetric
      shared or EMA teacher (beyond the paper). With it (the code), student and teacher frames
      both carry t, so the clip's frames can be told apart by t alone: a shortcut.
    """

    distillation: str = "c2p"
    teacher: str = "shared"
    teacher_arch: str = "asymmetric"
    window: str = "3"
    predictor: str = "per-offset"
    predictor_norm: str = "batch"
    predictor_hidden: int = 4096
    loss: str = "code"
    batch_negatives: bool = False
    teacher_time: bool = True
    temperature: float = 0.07
    geo_weight: float = 0.5  # L_geo's weight; the offsets share the rest equally
    ema_momentum: float = 0.996

    def __post_init__(self) -> None:
        _choice("c2p.distillation", self.distillation, ("c2p", "c2c", "p2p"))
        _choice("c2p.teacher", self.teacher, ("shared", "separate", "ema"))
        _choice("c2p.teacher_arch", self.teacher_arch, ("asymmetric", "symmetric"))
        _choice("c2p.window", self.window, WINDOWS)
        _choice("c2p.predictor", self.predictor, ("per-offset", "single"))
        _choice("c2p.predictor_norm", self.predictor_norm, ("batch", "layer"))
        _choice("c2p.loss", self.loss, ("code", "paper"))
        _check(
            self.teacher_time or (self.teacher != "separate" and self.teacher_arch == "asymmetric"),
            "c2p.teacher_time=false needs the shared or EMA asymmetric teacher (the others take "
            "no position embedding of their own to change)",
        )
        _check(self.predictor_hidden >= 1, "c2p.predictor_hidden must be >= 1")
        _check(self.temperature > 0, "c2p.temperature must be > 0")
        _check(0 < self.geo_weight <= 1, "c2p.geo_weight must be in (0, 1]")
        _check(0 <= self.ema_momentum < 1, "c2p.ema_momentum must be in [0, 1)")

    @property
    def offsets(self) -> tuple[int, ...]:
        return WINDOWS[self.window][0]

    @property
    def half_window(self) -> int:
        return WINDOWS[self.window][1]


@dataclass(frozen=True)
class VideoMAEConfig:
    """The VideoMAE-style baseline: mask most of the trunk's space-time tokens (or frames, for
    a frame-mixing trunk), encode the visible ones, reconstruct the masked ones' points."""

    mask_ratio: float = 0.75
    # random tokens; VideoMAE's tubes (the same regions hidden in every frame), which
    # fine-tuned 14.5 points lower on the gesture store; or whole frames, whose tokens' places
    # are hidden too, which on that store reconstruct no better than the positions-only
    # control either (DESIGN.md)
    masking: str = "random"
    decoder_dim: int = 256
    decoder_depth: int = 2
    points_per_token: int = 32  # points each masked token (or frame) reconstructs
    # A control, not a method: the decoder gets no encoder output, only every token's position
    # and whether it was masked. Its loss is what positions alone reconstruct; on the gesture
    # store it matches the full model's (DESIGN.md).
    positions_only: bool = False

    def __post_init__(self) -> None:
        _check(0 < self.mask_ratio < 1, "videomae.mask_ratio must be in (0, 1)")
        _choice("videomae.masking", self.masking, ("tube", "random", "frames"))
        _check(self.decoder_dim >= 1 and self.decoder_depth >= 1, "videomae decoder sizes >= 1")
        _check(self.points_per_token >= 1, "videomae.points_per_token must be >= 1")


@dataclass(frozen=True)
class STRLConfig:
    """The STRL-style baseline (BYOL in space-time): two augmented clips of one sequence, an
    online network with projector and predictor, a moving-average target network."""

    projector_hidden: int = 4096
    projection_dim: int = 256
    ema_momentum: float = 0.99
    max_shift: int = 4  # frames between the two clips' starts, at most

    def __post_init__(self) -> None:
        _check(self.projector_hidden >= 1 and self.projection_dim >= 1, "strl sizes >= 1")
        _check(0 <= self.ema_momentum < 1, "strl.ema_momentum must be in [0, 1)")
        _check(self.max_shift >= 0, "strl.max_shift must be >= 0")


@dataclass(frozen=True)
class OptimConfig:
    """SGD with a linear warm-up stepped per iteration, then flat (the code) or cosine. AdamW
    for methods whose encoder gets too small a gradient for SGD (VideoMAE's, through its
    decoder, as in MAE and Point-MAE)."""

    epochs: int = 100
    batch_size: int = 8  # per process
    optimizer: str = "sgd"  # or adamw
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: float = 10
    warmup_factor: float = 1e-5
    schedule: str = "flat"
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    milestones: tuple[int, ...] = ()  # epochs at which a flat schedule's lr is x gamma
    gamma: float = 0.5

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, "optim.epochs must be >= 1")
        _check(self.batch_size >= 1, "optim.batch_size must be >= 1")
        _check(self.lr > 0 and math.isfinite(self.lr), "optim.lr must be > 0")
        _check(self.warmup_epochs >= 0, "optim.warmup_epochs must be >= 0")
        _check(self.grad_clip >= 0, "optim.grad_clip must be >= 0")
        _choice("optim.schedule", self.schedule, ("flat", "cosine"))
        _choice("optim.optimizer", self.optimizer, ("sgd", "adamw"))
        _check(
            list(self.milestones) == sorted(set(self.milestones))
            and min(self.milestones, default=1) >= 1,
            f"optim.milestones must be increasing epochs >= 1, got {self.milestones}",
        )
        _check(
            not self.milestones or self.schedule == "flat",
            "optim.milestones step a flat schedule; drop them or set optim.schedule=flat",
        )
        _check(0 < self.gamma <= 1, "optim.gamma must be in (0, 1]")


@dataclass(frozen=True)
class ProbeConfig:
    """The k-NN monitor: per-frame labels of val clips from frozen student frame features."""

    every: int = 1  # epochs; 0 = off
    k: int = 20
    bank_sequences: int = 32  # train sequences whose frames form the memory bank

    def __post_init__(self) -> None:
        _check(self.every >= 0, "probe.every must be >= 0")
        _check(self.k >= 1 and self.bank_sequences >= 1, "probe.k, probe.bank_sequences >= 1")


@dataclass(frozen=True)
class PretrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: str = "c2p"  # c2p, or a baseline the paper compares with: videomae, strl
    c2p: C2PConfig = field(default_factory=C2PConfig)
    videomae: VideoMAEConfig = field(default_factory=VideoMAEConfig)
    strl: STRLConfig = field(default_factory=STRLConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    input_scale: float = 1.0  # as fine-tuning's: the trunk, probe included, sees points x this
    seed: int = 0
    device: str = "auto"  # auto = cuda when present
    bf16: bool = False  # autocast on CUDA

    def __post_init__(self) -> None:
        _choice("device", self.device, ("auto", "cpu", "cuda"))
        _choice("method", self.method, METHODS)
        _check(self.input_scale > 0, "input_scale must be > 0")
        needs_views = self.method == "c2p" and self.c2p.distillation != "c2c"
        _check(
            needs_views or self.data.view_set is None,
            "data.view_set is set but this method reads no partial views",
        )


# The small presets' trunk, one for pretraining and fine-tuning, so that one loads into the other.
SMALL_TRUNK: dict[str, Any] = {
    "backbone": "p4transformer",
    "dim": 256,
    "depth": 2,
    "heads": 4,
    "dim_head": 64,
    "mlp_dim": 512,
    "radius": 0.3,
    "spatial_stride": 16,
}

# The paper's scale (appendix C, the authors' pretrain_as.py: PPTr, 150 x 2048, batch 8) and one
# that learns in minutes on 2 CPU cores (a narrow, shallow trunk on 24-frame clips of 512 points).
PRESETS: Registry[dict[str, Any]] = Registry(
    "preset",
    ConfigError,
    {
        "paper": {},
        "small": {
            "data": {"clip_frames": 24, "frame_stride": 2, "points": 512, "clips_per_sequence": 2},
            "model": SMALL_TRUNK,
            "c2p": {"predictor_hidden": 512},
            "optim": {"epochs": 6, "warmup_epochs": 1, "lr": 0.05},
            "probe": {"k": 10, "bank_sequences": 48},
        },
    },
)


def preset(name: str, task: str | None = None) -> PretrainConfig:
    """The pretraining preset `name` (paper or small). With `task`, the trunk is the one that
    task's fine-tuning preset of the same name builds (its model options and input scale), so
    that fine-tuning loads it and feeds it coordinates as it was trained."""
    values = PRESETS.get(name)
    if task is not None:
        tuned = finetune_preset(task, name)
        values = {**values, "model": to_dict(tuned.model), "input_scale": tuned.input_scale}
    return from_dict(PretrainConfig, values)


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """A dataclass tree from nested dicts (JSON), unknown keys refused."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    _check(not unknown, f"unknown {cls.__name__} option(s): {', '.join(unknown)}")
    kwargs = {}
    for key, value in values.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            kwargs[key] = from_dict(kind, value)
        else:
            kwargs[key] = _coerce(kind, value, key)
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def override(config: Any, assignments: typing.Iterable[str]) -> Any:
    """config with `section.field=value` assignments applied (values parsed by the field's type)."""
    tree = to_dict(config)
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        _check(bool(sep), f"option {assignment!r} is not KEY=VALUE (e.g. c2p.window=5)")
        *path, leaf = key.strip().split(".")
        node, cls = tree, type(config)
        for part in path:
            _check(
                isinstance(node.get(part), dict),
                f"unknown option {key!r}; sections: {', '.join(_sections(config))}",
            )
            node, cls = node[part], get_type_hints(cls)[part]
        fields = {f.name for f in dataclasses.fields(cls)}
        _check(
            leaf in fields,
            f"unknown option {key!r}; {'.'.join(path) or 'the top level'} has: "
            + ", ".join(sorted(fields)),
        )
        node[leaf] = _parse(get_type_hints(cls)[leaf], text.strip(), key)
    return from_dict(type(config), tree)


def _sections(config: Any) -> list[str]:
    return [k for k, v in get_type_hints(type(config)).items() if dataclasses.is_dataclass(v)]


def _parse(kind: Any, text: str, key: str) -> Any:
    """Text from the command line -> a JSON-like value of type `kind`."""
    if text.lower() in ("none", "null") and type(None) in typing.get_args(kind):
        return None
    base = _base(kind)
    if typing.get_origin(base) is tuple:  # "a,b,c"; "" is the empty tuple
        return [_parse(typing.get_args(base)[0], part, key) for part in text.split(",") if text]
    try:
        if base is bool:
            _check(text.lower() in ("true", "false", "1", "0"), f"{key}: expected true or false")
            return text.lower() in ("true", "1")
        if base is int:
            return int(text)
        if base is float:
            return float(text)
    except ValueError as error:
        raise ConfigError(f"{key}={text!r}: expected {base.__name__}") from error
    return text


def _coerce(kind: Any, value: Any, key: str) -> Any:
    """A JSON value -> the field's Python type (tuples from lists), with a type check."""
    if value is None:
        _check(type(None) in typing.get_args(kind), f"{key} may not be None")
        return None
    base = _base(kind)
    if typing.get_origin(base) is tuple:
        return tuple(_coerce(typing.get_args(base)[0], v, key) for v in value)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    _check(isinstance(value, base), f"{key}={value!r}: expected {getattr(base, '__name__', base)}")
    return value


def _base(kind: Any) -> Any:
    """X for `X | None`, else the type itself."""
    if isinstance(kind, types.UnionType):
        return next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


# --- fine-tuning ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    """Which clips are evaluated, and how often the val split picks the model."""

    every: int = 1  # epochs between val evaluations; 0 = never (the last epoch is kept)
    start_step: int = 0  # frames between evaluated clip starts; 0 = the task's (train/tasks.py)

    def __post_init__(self) -> None:
        _check(self.every >= 0, "evaluation.every must be >= 0")
        _check(self.start_step >= 0, "evaluation.start_step must be >= 0")


@dataclass(frozen=True)
class FinetuneConfig:
    """A task model (`model.task`) trained on labelled clips, from scratch or from a pretrained
    trunk (`init`: a pretraining run or its .safetensors), on `labels` % of the training
    sequences. `freeze` trains the task's head alone on the frozen trunk (an MLP probe);
    `trunk_lr` < 1 fine-tunes the trunk more gently than the new head, the usual remedy when
    the head's first, random gradients would wash out what pretraining learned."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    init: str | None = None
    freeze: bool = False
    trunk_lr: float = 1.0  # the trunk's learning rate as a fraction of optim.lr (the head's)
    labels: float = 100.0  # percent of the training sequences whose labels are used
    train_starts: str = "random"  # random: data.clips_per_sequence per sequence; all: every start
    # The model sees coordinates x input_scale: the reference feeds MSR in millimetres / 300,
    # and the trunk's unnormalised first layer learns slowly from displacements of centimetres.
    input_scale: float = 1.0
    seed: int = 0
    device: str = "auto"
    bf16: bool = False

    def __post_init__(self) -> None:
        _check(
            0 < self.labels <= 100,
            f"labels={self.labels:g} is outside (0, 100]: the percent of training sequences",
        )
        _check(self.data.view_set is None, "data.view_set: fine-tuning reads no partial views")
        _choice("train_starts", self.train_starts, ("random", "all"))
        _check(self.input_scale > 0, "input_scale must be > 0")
        _check(
            0 < self.trunk_lr <= 1,  # NaN fails both comparisons
            f"trunk_lr={self.trunk_lr:g} must be in (0, 1]: a fraction of optim.lr "
            "(freeze=true stops the trunk)",
        )
        _choice("device", self.device, ("auto", "cpu", "cuda"))


# The references compute jitter and never apply it. Labelled batches need the whole epoch's
# clips shuffled: a buffer of 64 over shard-ordered blocks (same action, neighbouring names)
# gave batches of 3 classes of 20 and an MSR model that never left chance.
_FINETUNE_DATA = {"jitter": 0.0, "shuffle_buffer": 4096}
_SMALL_SEGMENTATION = {k: SMALL_TRUNK[k] for k in ("backbone", "dim", "depth", "heads", "dim_head")}
_SMALL_OPTIM = {"epochs": 8, "batch_size": 8, "lr": 0.05, "warmup_epochs": 1, "milestones": (5, 7)}

# Per task: the reference's sizes and schedule (appendix C; HOI4D_ActionSeg, HOI4D_SemSeg,
# P4Transformer's train-syn.py and PPTr's train-msr.py), and one that learns in minutes on 2
# CPU cores from the built-in stand-ins.
_FINETUNE_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "hoi4d-actseg": {
        "paper": {
            "data": {"clip_frames": 0, "points": 2048, "rotate": False, **_FINETUNE_DATA},
            "model": {"backbone": "pptr"},
            "optim": {"epochs": 50, "lr": 0.05, "warmup_epochs": 5, "milestones": (20, 35)},
        },
        "small": {
            "data": {
                "clip_frames": 0,
                "frame_stride": 2,
                "points": 512,
                "rotate": False,
                **_FINETUNE_DATA,
            },
            "model": SMALL_TRUNK,
            "optim": _SMALL_OPTIM,
        },
    },
    "hoi4d-semseg": {
        "paper": {  # 1/5 of each sequence's 100 three-frame clips per epoch, as the paper
            "data": {
                "clip_frames": 3,
                "points": 8192,
                "clips_per_sequence": 20,
                "rotate": False,
                **_FINETUNE_DATA,
            },
            "model": {"backbone": "pptr"},
            "optim": {
                "epochs": 50,
                "batch_size": 24,
                "lr": 0.02,
                "warmup_epochs": 5,
                "milestones": (15, 25, 35),
            },
        },
        "small": {
            "data": {
                "clip_frames": 3,
                "points": 512,
                "clips_per_sequence": 2,
                "rotate": False,
                **_FINETUNE_DATA,
            },
            "model": {**_SMALL_SEGMENTATION, "radius": 0.15, "mlp_dim": 512},
            "optim": _SMALL_OPTIM,
            "evaluation": {"start_step": 15},  # every fifth three-frame clip
        },
    },
    "synthia": {
        "paper": {
            "data": {"clip_frames": 3, "points": 16384, **_FINETUNE_DATA},
            "model": {"backbone": "p4transformer"},
            "train_starts": "all",
            "optim": {
                "epochs": 150,
                "lr": 0.01,
                "warmup_epochs": 10,
                "milestones": (30, 40, 50),
                "gamma": 0.1,
            },
        },
        "small": {
            "data": {"clip_frames": 3, "points": 1024, "clips_per_sequence": 4, **_FINETUNE_DATA},
            "model": {**_SMALL_SEGMENTATION, "radius": 1.5, "mlp_dim": 512},
            "optim": _SMALL_OPTIM,
        },
    },
    "msr": {
        "paper": {
            "data": {
                "clip_frames": 24,
                "points": 2048,
                "scale": (0.9, 1.1),
                "rotate": False,
                **_FINETUNE_DATA,
            },
            "model": {"backbone": "pptr"},
            "input_scale": 1 / 0.3,  # metres -> the reference's millimetres / 300
            "train_starts": "all",
            "optim": {
                "epochs": 50,
                "batch_size": 24,
                "lr": 0.01,
                "warmup_epochs": 10,
                "milestones": (20, 30),
                "gamma": 0.1,
            },
        },
        "small": {
            "data": {
                "clip_frames": 24,
                "points": 512,
                "clips_per_sequence": 2,
                "scale": (0.9, 1.1),
                "rotate": False,
                **_FINETUNE_DATA,
            },
            "model": {**SMALL_TRUNK, "position_embedding": False, "radius": 3.0},  # as PPTr's
            "input_scale": 10.0,  # decimetres: from chance to learning in minutes
            # Unclipped, single steps' loss jumps to 6-25 after reaching 0.1 (DESIGN.md).
            # AdamW (Point-MAE's fine-tuning): SGD's steps shrink with the gradient, which the
            # baselines' trunks scale down, leaving them 23 points below scratch (DESIGN.md).
            "optim": {
                **_SMALL_OPTIM,
                "grad_clip": 1.0,
                "optimizer": "adamw",
                "lr": 5e-4,
                "weight_decay": 0.05,
            },
            "evaluation": {"start_step": 2},
        },
    },
}


FINETUNE_PRESETS: Registry[Registry[dict[str, Any]]] = Registry(
    "fine-tuning task",
    ConfigError,
    {
        task: Registry(f"{task} preset", ConfigError, presets)
        for task, presets in _FINETUNE_PRESETS.items()
    },
)


def finetune_preset(task: str, name: str) -> FinetuneConfig:
    """The `name` preset (small or paper) of fine-tuning on `task`."""
    values = FINETUNE_PRESETS.get(task).get(name)
    return from_dict(FinetuneConfig, {**values, "model": {**values["model"], "task": task}})
