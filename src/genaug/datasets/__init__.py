"""Custom Kedro datasets, only where kedro-datasets has none."""

from genaug.datasets.cifar import CIFARDataset
from genaug.datasets.idx import IDXImageDataset
from genaug.datasets.image_folder import ImageFolderDataset
from genaug.datasets.torchvision_images import TorchvisionImageDataset

__all__ = ["CIFARDataset", "IDXImageDataset", "ImageFolderDataset", "TorchvisionImageDataset"]
