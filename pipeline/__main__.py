"""`python -m c2p4d.pipeline` is `c2p-data`."""

from c2p4d.pipeline.cli import main

main()
