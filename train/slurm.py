"""The sbatch script of a multi-node pretraining: one torchrun per node, DDP across them all."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class SlurmJob:
    nodes: int = 1
    gpus_per_node: int = 1
    cpus_per_gpu: int = 8
    partition: str | None = None
    walltime: str = "24:00:00"
    job_name: str = "c2p-pretrain"
    port: int = 29500

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.gpus_per_node < 1 or self.cpus_per_gpu < 1:
            raise ValueError("--nodes, --gpus-per-node and --cpus-per-gpu must be >= 1")


def sbatch_script(job: SlurmJob, train_args: list[str]) -> str:
    """A script for `sbatch`: srun starts one torchrun per node; the first node hosts the
    rendezvous; every rank runs `c2p-train pretrain` with train_args (device cuda)."""
    partition = f"#SBATCH --partition={job.partition}\n" if job.partition else ""
    args = shlex.join(["--device", "cuda", "--no-progress", *train_args])
    return f"""#!/bin/bash
#SBATCH --job-name={job.job_name}
#SBATCH --nodes={job.nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={job.gpus_per_node}
#SBATCH --cpus-per-task={job.cpus_per_gpu * job.gpus_per_node}
#SBATCH --time={job.walltime}
#SBATCH --output=slurm-logs/%x-%j.out
{partition}set -euo pipefail
mkdir -p slurm-logs
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun torchrun \\
  --nnodes={job.nodes} \\
  --nproc-per-node={job.gpus_per_node} \\
  --rdzv-id="$SLURM_JOB_ID" \\
  --rdzv-backend=c10d \\
  --rdzv-endpoint="$head:{job.port}" \\
  -m c2p4d.train pretrain {args}
"""
