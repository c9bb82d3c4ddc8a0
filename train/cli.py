"""`c2p-train`: C2P pretraining and fine-tuning on a c2p4d store."""

from __future__ import annotations

import click


@click.group()
def main() -> None:
    """Pretrain (C2P) and fine-tune P4Transformer / PPTr backbones on a c2p4d store.

    The commands arrive with the training issues; the store they read is built by `c2p-data`.
    """
