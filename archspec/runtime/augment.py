"""Augmentation from the spec's ``training.augment`` list, with torchvision.transforms.v2, and batching.

For segmentation every image travels with its mask through the same transforms (as a
``tv_tensors.Mask``): geometric ones move both alike, colour ones touch only the image.

Two ways to feed batches, with the same pipeline and so the same distribution of
transforms: ``TensorBatches`` keeps the whole set as tensors on the device and
augments each image there (no DataLoader workers, no host-device copies), and
``StreamBatches`` goes through a DataLoader for sets too big to hold.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from archspec.runtime.data import DataError, ImageSet


def pipeline(steps) -> v2.Compose | None:
    """The transforms.v2 pipeline for a list of augment steps (None for no augmentation)."""
    transforms = [_transform(step) for step in steps]
    return v2.Compose(transforms) if transforms else None


def _transform(step):
    kind = step.type
    if kind == "hflip":
        return v2.RandomHorizontalFlip(step.p)
    if kind == "vflip":
        return v2.RandomVerticalFlip(step.p)
    if kind == "affine":
        return v2.RandomAffine(degrees=step.degrees, translate=step.translate, scale=step.scale)
    if kind == "color_jitter":
        return v2.ColorJitter(
            brightness=step.brightness or None,
            contrast=step.contrast or None,
            saturation=step.saturation or None,
            hue=step.hue or None,
        )
    if kind == "elastic":
        return v2.RandomApply([v2.ElasticTransform(alpha=step.alpha, sigma=step.sigma)], p=step.p)
    if kind == "random_resized_crop":
        return _SameSizeCrop(step.scale, step.ratio)
    raise DataError(f"unknown augmentation `{kind}`")  # the schema lets none through; a guard for new kinds


class _SameSizeCrop(torch.nn.Module):
    """RandomResizedCrop back to the image's own size (the spec's input size)."""

    def __init__(self, scale, ratio):
        super().__init__()
        self.scale, self.ratio = tuple(scale), tuple(ratio)

    def forward(self, *inputs):
        crop = v2.RandomResizedCrop(tuple(inputs[0].shape[-2:]), scale=self.scale, ratio=self.ratio, antialias=True)
        return crop(*inputs)  # an image and its mask (a tuple of both), or an image


def augment(transform, image: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One image (and its mask, if any) through ``transform``: the same random draw for both."""
    if mask is None:
        return transform(image), None
    moved_image, moved_mask = transform(tv_tensors.Image(image), tv_tensors.Mask(mask))
    return moved_image.as_subclass(torch.Tensor), moved_mask.as_subclass(torch.Tensor)


def _augment_pair(transform, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    moved_image, moved_mask = augment(transform, image, mask)
    assert moved_mask is not None
    return moved_image, moved_mask


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 N×C×H×W -> float, standardised per channel with the training set's statistics."""
    x = images.float().div_(255)
    return (x - mean.view(1, -1, 1, 1).to(x.device)) / std.view(1, -1, 1, 1).to(x.device)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of one epoch: a function of (seed, epoch) only, so a resumed run repeats it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


class TensorBatches:
    """Batches from a set held as tensors on ``device``; augmentation runs there, image by image."""

    def __init__(self, data: ImageSet, batch_size: int, device, mean, std, transform=None, order: torch.Tensor | None = None):
        self.images = data.images.to(device)
        self.labels = data.targets.to(device)  # class labels, or masks for segmentation
        self.masks = data.masks is not None
        self.batch_size, self.mean, self.std, self.transform = batch_size, mean, std, transform
        self.order = order if order is not None else torch.arange(len(data))

    def __len__(self) -> int:
        return (len(self.order) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        for start in range(0, len(self.order), self.batch_size):
            index = self.order[start : start + self.batch_size].to(self.images.device)
            images, labels = self.images[index], self.labels[index]
            if self.transform is not None and self.masks:
                pairs = [_augment_pair(self.transform, image, mask) for image, mask in zip(images, labels)]
                images, labels = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
            elif self.transform is not None:
                images = torch.stack([self.transform(image) for image in images])
            yield normalise(images, self.mean, self.std), labels.long()


class _Items(Dataset):
    def __init__(self, data: ImageSet, transform):
        self.data, self.transform = data, transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        image, target = self.data.images[i], self.data.targets[i]
        if self.transform is None:
            return image, target
        if self.data.masks is None:
            return self.transform(image), target
        return _augment_pair(self.transform, image, target)


class StreamBatches:
    """Batches through a DataLoader (worker processes augment on the host), for sets too big to hold on the device."""

    def __init__(self, data: ImageSet, batch_size: int, device, mean, std, transform=None, order=None, workers: int = 2):
        self.device, self.mean, self.std = device, mean, std
        sampler = (order if order is not None else torch.arange(len(data))).tolist()
        self.loader = DataLoader(
            _Items(data, transform), batch_size=batch_size, sampler=sampler, num_workers=workers, persistent_workers=False
        )

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for images, labels in self.loader:
            yield normalise(images.to(self.device, non_blocking=True), self.mean, self.std), labels.to(self.device).long()
