"""What only a GPU can tell: the CUDA paths agree with the CPU, and what a paper-sized C2P step
costs. Run on a machine with CUDA (CI never does):

    python benchmarks/gpu_check.py [--steps 5]

1. Point kernels on CUDA (torch backend) return the indices of the numba CPU kernels.
2. Every backbone x task (tiny widths): logits on CUDA match the CPU's, and backward runs.
3. One C2P training step (tiny): loss terms on CUDA match the CPU's.
4. A C2P pretraining step at the `paper` preset (PPTr, 150 frames x 2048 points, batch 8) in
   fp32 and in bf16 autocast: clips/s, peak memory, and the share of the forward spent in the
   P4DConv encoder (point ops + its MLP), in the point ops alone (FPS, ball query, grouping),
   and in the transformers.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from c2p4d import kernels
from c2p4d.models import BACKBONES, TASKS, build, build_student
from c2p4d.train.c2p import C2P
from c2p4d.train.config import preset

TINY = dict(dim=16, depth=1, heads=2, dim_head=8, mlp_dim=16, radius=0.5, neighbors=8)
TINY_SEG = dict(
    TINY,
    radius=0.3,
    spatial_strides=(2, 2, 2, 2),
    encoder_channels=((8,), (8,), (8,), ()),
    decoder_channels=((8,), (8,), (8,), (8,)),
)


def check(name: str, ok: bool, detail: str = "") -> bool:
    print(f"| {name} | {'ok' if ok else 'FAIL'} | {detail} |", flush=True)
    return ok


def kernels_agree() -> bool:
    g = torch.Generator().manual_seed(0)
    xyz = torch.rand(4, 2048, 3, generator=g)
    centres = xyz[:, :64]
    results = []
    for name, run in {
        "fps": lambda x, c: kernels.farthest_point_sample(x, 64),
        "ball query": lambda x, c: kernels.ball_query(0.2, 32, x, c),
        "knn": lambda x, c: kernels.knn(16, x, c)[1],
    }.items():
        cpu = run(xyz, centres)
        gpu = run(xyz.cuda(), centres.cuda()).cpu()
        same = torch.equal(cpu, gpu)
        results.append(check(f"kernel {name}: CUDA == numba", same, f"{(cpu != gpu).sum()} differ"))
    return all(results)


def models_agree() -> bool:
    ok = True
    for name in BACKBONES:
        for task in TASKS:
            segmentation = task in ("hoi4d-semseg", "synthia")
            tiny = TINY_SEG if segmentation else dict(TINY, spatial_strides=(4,))
            if name == "pptr" and segmentation:
                tiny = dict(tiny, primitives=4, primitive_points=8, classifier_channels=(16,))
            elif name == "pptr":
                tiny = dict(tiny, primitives=2)
            torch.manual_seed(0)
            model = build(name, task, 5, **tiny)
            g = torch.Generator().manual_seed(1)
            frames = 4 if task in ("msr", "hoi4d-actseg") else 3
            clip = torch.rand(2, frames, 64, 3, generator=g)
            feats = torch.rand(2, frames, 64, 3, generator=g) if task == "synthia" else None
            cpu = model(clip, feats)
            model.cuda()
            gpu = model(clip.cuda(), None if feats is None else feats.cuda())
            gpu.sum().backward()
            error = (cpu - gpu.cpu()).abs().max().item()
            ok &= check(
                f"{name} {task}: logits CUDA vs CPU", error < 1e-3, f"max |diff| {error:.1e}"
            )
    return ok


def c2p_step_agrees() -> bool:
    torch.manual_seed(0)
    student = build_student("p4transformer", "hoi4d-actseg", **TINY, spatial_strides=(8,))
    model = C2P(student, preset("small").c2p, "p4transformer")
    g = torch.Generator().manual_seed(2)
    complete = torch.rand(2, 6, 64, 3, generator=g)
    batch = {"complete": complete, "partial": complete[:, None, :, :32].repeat(1, 1, 1, 2, 1)}
    cpu = model(batch)
    model.cuda()
    gpu = model({k: v.cuda() for k, v in batch.items()})
    error = max((cpu[k] - gpu[k].cpu()).abs().item() for k in cpu)
    return check("C2P loss terms CUDA vs CPU", error < 1e-3, f"max |diff| {error:.1e}")


def paper_step(steps: int, bf16: bool) -> None:
    config = preset("paper")
    model_config = config.model
    torch.manual_seed(0)
    student = build_student(model_config.backbone, model_config.task, **model_config.overrides())
    model = C2P(student, config.c2p, model_config.backbone).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    b, t, n = config.optim.batch_size, config.data.clip_frames, config.data.points
    g = torch.Generator(device="cuda").manual_seed(0)
    complete = torch.rand(b, t, n, 3, device="cuda", generator=g)
    batch = {"complete": complete, "partial": complete[:, None]}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        with autocast:
            loss = model(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"| paper step {'bf16' if bf16 else 'fp32'} | {b / seconds:.1f} clips/s | "
        f"{seconds:.2f} s/step, peak {peak:.1f} GiB, {params:.0f} M parameters |",
        flush=True,
    )
    if not bf16:
        forward_shares(student, complete, autocast)


def timed(fn, repeats: int = 3) -> float:
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


@torch.no_grad()
def forward_shares(student, clip: torch.Tensor, autocast) -> None:
    """Forward time of the encoder, of the trunk up to its last transformer, and of the whole
    trunk on two clips (student and teacher inputs); point ops timed alone at the same sizes."""
    both = torch.cat([clip, clip])
    whole = timed(lambda: student.frame_features(both))
    encoder = timed(lambda: student.encode(both, None))
    embedding = timed(lambda: student.embedding(both, None))
    layer = student.config.encoder_layers()[0]
    b, t, n, _ = both.shape
    m = n // layer["spatial_stride"]
    rows = both.reshape(b * t, n, 3)

    def point_ops() -> None:
        idx = kernels.farthest_point_sample(rows, m)
        anchors = kernels.gather(rows, idx)
        for _ in range(layer["temporal_kernel_size"]):
            kernels.ball_query(layer["radius"], layer["neighbors"], rows, anchors)

    points = timed(point_ops)
    print(
        f"| forward split (2 clips) | {whole:.3f} s | encoder {100 * encoder / whole:.0f} % "
        f"(point ops {100 * points / whole:.0f} %), transformers "
        f"{100 * (whole - encoder) / whole:.0f} % (intra {100 * (embedding - encoder) / whole:.0f}"
        f" %, last {100 * (whole - embedding) / whole:.0f} %) |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}\n")
    print("| check | result | detail |\n|---|---|---|")
    ok = kernels_agree() & models_agree() & c2p_step_agrees()
    paper_step(args.steps, bf16=False)
    paper_step(args.steps, bf16=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
