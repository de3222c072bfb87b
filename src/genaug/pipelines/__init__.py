"""The project's stage and ablation pipelines."""
