"""The registered synthesis pipeline runs end to end on conf/test through a KedroSession."""

from __future__ import annotations

import torch

from genaug.models.diffusion import decode_meta, unpack_unet


def test_synthesis_pipeline_runs_on_conf_test(kedro_project):
    """data_processing then synthesis; pool, generator and grid load back from the catalog."""
    kedro_project.run("data_processing")
    kedro_project.run("synthesis")
    catalog = kedro_project.catalog()
    real = catalog.load("real_train")
    names = catalog.load("class_names")
    pool = catalog.load("synthetic_pool")
    k = len(names)
    assert pool["images"].dtype == torch.uint8 and pool["labels"].dtype == torch.int64
    assert pool["images"].shape == (real["labels"].numel(), *real["images"].shape[1:])
    assert torch.bincount(pool["labels"], minlength=k).tolist() == [real["labels"].numel() // k] * k
    generator = catalog.load("generator")
    unet, _meta = unpack_unet(generator)
    assert decode_meta(generator)["class_names"] == names
    assert unet.config.num_class_embeds == k + 1
    grid_dir = kedro_project.data / "08_reporting/generator_samples_grid.png"
    grids = list(grid_dir.rglob("*.png"))
    assert len(grids) == 1
    assert not (kedro_project.data / "05_model_input/synthetic_pool.staging").exists()
    # conf/test checkpoints the generator every 2 steps; they are deleted once it is saved.
    checkpoints = kedro_project.data / "06_models/checkpoints/generator"
    assert checkpoints.is_dir() and not list(checkpoints.iterdir())
