"""Parameters and one forward+backward time of every backbone x task at the paper's input sizes.

Columns: our parameter count beside the reference model's (from its layer shapes, see
c2p4d.models.config.REFERENCE_PARAMETERS), and one training step (batch 1, forward + backward
of the summed logits) on CPU. The reference models cannot run here (their point ops are CUDA
only), so there is no reference time. Quick mode builds narrow models (dim 64, depth 1) on
small clips and only shows that every pair runs.
"""

import sys
import time

import torch

from c2p4d.models import BACKBONES, build
from c2p4d.models.config import REFERENCE_PARAMETERS

# task -> (classes, frames, points per frame, feature channels): the paper's inputs.
INPUTS = {
    "msr": (20, 24, 2048, 0),
    "hoi4d-actseg": (19, 150, 2048, 0),
    "hoi4d-semseg": (49, 3, 8192, 0),
    "synthia": (12, 3, 16384, 3),
}
QUICK_FRAMES = {"msr": 4, "hoi4d-actseg": 4, "hoi4d-semseg": 3, "synthia": 3}
QUICK_POINTS = 256
QUICK_OVERRIDES = dict(dim=64, depth=1, heads=2, dim_head=16, mlp_dim=64)


def step_seconds(model: torch.nn.Module, clip: torch.Tensor, features: torch.Tensor | None):
    start = time.perf_counter()
    model(clip, features).sum().backward()
    return time.perf_counter() - start


def warm_up() -> None:
    """One small step per backbone first, so that loading the compiled point kernels and
    torch's first-call set-up are not timed in the first row."""
    for name in BACKBONES:
        model = build(name, "msr", 20, **QUICK_OVERRIDES)
        step_seconds(model, torch.rand(1, QUICK_FRAMES["msr"], QUICK_POINTS, 3), None)


def main(quick: bool = False) -> None:
    threads = torch.get_num_threads()
    warm_up()
    print(f"torch {torch.__version__}, CPU, {threads} threads, batch 1, one forward+backward\n")
    print("| backbone | task | input T x N (+C) | params | reference params | fwd+bwd s |")
    print("|---|---|---|---:|---:|---:|")
    for name in BACKBONES:
        for task, (classes, frames, points, channels) in INPUTS.items():
            if quick:
                frames, points = QUICK_FRAMES[task], QUICK_POINTS
            torch.manual_seed(0)
            model = build(name, task, classes, **(QUICK_OVERRIDES if quick else {}))
            g = torch.Generator().manual_seed(0)
            clip = 4 * torch.rand(1, frames, points, 3, generator=g)
            features = torch.rand(1, frames, points, channels, generator=g) if channels else None
            seconds = step_seconds(model, clip, features)
            params = sum(p.numel() for p in model.parameters())
            reference = "-" if quick else f"{REFERENCE_PARAMETERS[name, task, classes]:,}"
            size = f"{frames} x {points}" + (f" (+{channels})" if channels else "")
            print(f"| {name} | {task} | {size} | {params:,} | {reference} | {seconds:.2f} |")
            del model


if __name__ == "__main__":
    main("--quick" in sys.argv)
