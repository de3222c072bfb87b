"""genaug: closed-set generative data augmentation ablations as a Kedro project."""

__version__ = "0.1.0"
