"""The trainer: C2P pretraining, fine-tuning on the paper's four tasks, evaluation and the
ablation, reading data only through `c2p4d.pipeline.store` (`c2p-train`)."""
