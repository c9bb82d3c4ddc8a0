"""`python -m c2p4d.train` is `c2p-train` (torchrun launches it this way: `-m c2p4d.train`)."""

from c2p4d.train.cli import main

main()
