"""Batched image augmentations for contrastive pre-training, run on the tensor's own device.

Each function takes a whole float batch (B, C, H, W) in [0, 1] and draws one set of random
parameters per image, so there is no Python loop over images and a GPU augments as fast as it
trains (per-image CPU augmentation is what starves accelerators in open_clip #899 and #703).

Randomness comes from ``generator`` when one is given (a ``torch.Generator`` on any device; the few
parameters are drawn there and moved to the images), else from the engine's per-example draws
(``engine.draws``: the same however a batch is split over processes; the global torch RNG outside
training).  kornia.augmentation does the same jobs but has no
``generator=`` and silently ignores one passed in (kornia #4427), so these are plain torch ops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..engine import draws

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as torchvision and Pillow convert RGB to grayscale


def _uniform(low: float, high: float, shape: tuple[int, ...], generator: Optional[torch.Generator],
             like: torch.Tensor) -> torch.Tensor:
    if generator is None:  # the engine's per-example draws (``engine.draws``), or the global RNG outside training
        drawn = draws.rand(*shape, device=like.device)
    else:
        drawn = torch.rand(shape, generator=generator, device=generator.device)
    return (drawn * (high - low) + low).to(like.device, like.dtype)


def _chance(p: float, batch: int, generator: Optional[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, 1) bool: which images an augmentation applied with probability ``p`` touches."""
    return (_uniform(0.0, 1.0, (batch,), generator, like) < p).view(batch, 1, 1, 1)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma; a one-channel batch is returned as it is."""
    if images.shape[1] == 1:
        return images
    weights = images.new_tensor(LUMA).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def random_resized_crop(images: torch.Tensor, size: int | tuple[int, int], *, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3), flip_p: float = 0.0,
                        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Crop a random box of ``scale`` x the area and aspect ``ratio`` from each image, resized to ``size``;
    with ``flip_p``, mirror left-right too (it costs nothing: the flip is a sign in the same warp).

    As torchvision, a box is drawn up to 10 times until it fits; an image where none fits keeps its
    whole frame.  All crops are one ``grid_sample`` call.  Bilinear sampling does not anti-alias, so
    crops much larger than ``size`` alias a little; at the small sizes pre-training uses here crops
    are mostly enlarged, where that does not arise.
    """
    b, _, h, w = images.shape
    out_h, out_w = (size, size) if isinstance(size, int) else size
    tries = 10
    area = _uniform(scale[0], scale[1], (b, tries), generator, images) * (h * w)
    aspect = torch.exp(_uniform(math.log(ratio[0]), math.log(ratio[1]), (b, tries), generator, images))
    box_w, box_h = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
    fits = (box_w <= w) & (box_h <= h)
    first = fits.float().argmax(1, keepdim=True)  # the first box that fits (argmax returns the first max)
    found = fits.any(1)
    box_w = torch.where(found, box_w.gather(1, first).squeeze(1), torch.full_like(found, w, dtype=images.dtype))
    box_h = torch.where(found, box_h.gather(1, first).squeeze(1), torch.full_like(found, h, dtype=images.dtype))
    left = _uniform(0.0, 1.0, (b,), generator, images) * (w - box_w)
    top = _uniform(0.0, 1.0, (b,), generator, images) * (h - box_h)
    flip = torch.where(_chance(flip_p, b, generator, images).view(b), -1.0, 1.0).to(images.dtype)

    # The affine map from output to input coordinates, both normalised to [-1, 1] (align_corners=False).
    theta = images.new_zeros(b, 2, 3)
    theta[:, 0, 0] = box_w / w * flip
    theta[:, 0, 2] = (2 * left + box_w) / w - 1
    theta[:, 1, 1] = box_h / h
    theta[:, 1, 2] = (2 * top + box_h) / h - 1
    grid = F.affine_grid(theta, [b, images.shape[1], out_h, out_w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    value, _ = x.max(1)
    chroma = value - x.min(1).values
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    rc, gc, bc = (value - r) / safe, (value - g) / safe, (value - b) / safe
    hue = torch.where(value == r, bc - gc, torch.where(value == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(chroma > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    saturation = chroma / torch.where(value > 0, value, torch.ones_like(value))
    return torch.stack((hue, saturation, value), 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    hue, saturation, value = x.unbind(1)
    sector = torch.floor(hue * 6.0)
    f = hue * 6.0 - sector
    p, q, t = value * (1 - saturation), value * (1 - saturation * f), value * (1 - saturation * (1 - f))
    sector = (sector.long() % 6).unsqueeze(1).unsqueeze(1)  # (B, 1, 1, H, W)
    # Per sector, which of v, p, q, t each of r, g, b takes (the standard HSV table).
    table = torch.stack((torch.stack((value, q, p, p, t, value), 1),
                         torch.stack((t, value, value, q, p, p), 1),
                         torch.stack((p, p, t, value, value, q), 1)), 1)  # (B, 3, 6, H, W)
    return table.gather(2, sector.expand(-1, 3, 1, -1, -1)).squeeze(2)


def color_jitter(images: torch.Tensor, *, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.1, p: float = 0.8, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """torchvision's ColorJitter with probability ``p``: factors drawn per image, e.g. brightness from
    [1 - 0.4, 1 + 0.4], hue shifted by up to ``hue`` of the colour wheel.

    torchvision picks a random order of the four adjustments per image; here one random order is
    drawn per batch, which keeps the batch one tensor op per adjustment.
    """
    b = images.shape[0]
    factor = {name: _uniform(1 - amount, 1 + amount, (b,), generator, images).view(b, 1, 1, 1)
              for name, amount in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation))}
    shift = _uniform(-hue, hue, (b,), generator, images).view(b, 1, 1)
    order = (torch.randperm(4, generator=generator, device=generator.device) if generator is not None
             else draws.randperm(4, device=images.device))
    out = images
    for step in order.tolist():
        if step == 0:
            out = out * factor["brightness"]
        elif step == 1:
            mean = grayscale(out).mean((1, 2, 3), keepdim=True)
            out = factor["contrast"] * out + (1 - factor["contrast"]) * mean
        elif step == 2 and out.shape[1] == 3:
            out = factor["saturation"] * out + (1 - factor["saturation"]) * grayscale(out)
        elif step == 3 and out.shape[1] == 3 and hue > 0:
            hsv = _rgb_to_hsv(out)
            hsv = torch.stack(((hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]), 1)
            out = _hsv_to_rgb(hsv)
        out = out.clamp(0.0, 1.0)  # torchvision clamps after every adjustment too
    return torch.where(_chance(p, b, generator, images), out, images)


def random_grayscale(images: torch.Tensor, *, p: float = 0.2,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Replace a share ``p`` of the images by their luma, kept as three equal channels."""
    chosen = _chance(p, images.shape[0], generator, images)
    return torch.where(chosen, grayscale(images).expand_as(images), images)


def gaussian_blur(images: torch.Tensor, *, sigma=(0.1, 2.0), p: float = 0.5, kernel_size: Optional[int] = None,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Blur a share ``p`` of the images with a Gaussian of standard deviation drawn from ``sigma``.

    The kernel is 10% of the image side (odd, at least 3), as SimCLR.  All images go through one
    grouped, separable convolution; images not chosen get a one-tap identity kernel.
    """
    b, c, h, w = images.shape
    k = kernel_size or max(3, int(0.1 * min(h, w)) // 2 * 2 + 1)
    std = _uniform(sigma[0], sigma[1], (b, 1), generator, images)
    offsets = torch.arange(k, device=images.device, dtype=images.dtype) - k // 2
    kernel = torch.exp(-offsets.square() / (2 * std.square()))
    kernel = kernel / kernel.sum(1, keepdim=True)
    identity = (offsets == 0).to(images.dtype).expand(b, k)
    kernel = torch.where(_chance(p, b, generator, images).view(b, 1), kernel, identity)
    kernel = kernel.repeat_interleave(c, 0)  # one kernel per (image, channel)
    padded = F.pad(images.reshape(1, b * c, h, w), (k // 2,) * 4, mode="reflect" if min(h, w) > k // 2 else "replicate")
    blurred = F.conv2d(padded, kernel.view(b * c, 1, 1, k), groups=b * c)
    blurred = F.conv2d(blurred, kernel.view(b * c, 1, k, 1), groups=b * c)
    return blurred.view(b, c, h, w)


@dataclass(frozen=True)
class SimCLRAugment:
    """SimCLR's view generator (Chen et al. 2020, appendix A): random resized crop and flip, colour
    jitter, random grayscale, Gaussian blur.

    The defaults are the paper's CIFAR-10 recipe (colour strength 0.5: jitter 0.4/0.4/0.4/0.1) with
    the ImageNet recipe's blur; SimCLR left blur out on 32-pixel images, so pass ``blur_p=0`` there
    to match it exactly.

    >>> augment = SimCLRAugment(size=32)
    >>> view_a, view_b = augment(images), augment(images)      # (B, C, 32, 32) each
    """

    size: int | tuple[int, int]
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)  # brightness, contrast, saturation, hue
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)

    def __call__(self, images: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        if not images.is_floating_point():
            raise TypeError(f"augmentations take float images in [0, 1], got {images.dtype}")
        x = random_resized_crop(images, self.size, scale=self.crop_scale, flip_p=self.flip_p, generator=generator)
        brightness, contrast, saturation, hue = self.jitter
        x = color_jitter(x, brightness=brightness, contrast=contrast, saturation=saturation, hue=hue,
                         p=self.jitter_p, generator=generator)
        if x.shape[1] == 3:
            x = random_grayscale(x, p=self.grayscale_p, generator=generator)
        if self.blur_p > 0:
            x = gaussian_blur(x, sigma=self.blur_sigma, p=self.blur_p, generator=generator)
        return x


def cutout(images: torch.Tensor, *, fraction: float = 0.5, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Each image with one square of up to ``fraction`` of its side, at a random place, set to grey (0.5),
    as FixMatch's strong augmentation ends (DeVries & Taylor 2017)."""
    b, _, h, w = images.shape
    side = (_uniform(0.0, fraction, (b,), generator, images) * min(h, w)).round()
    cy, cx = _uniform(0.0, h, (b,), generator, images), _uniform(0.0, w, (b,), generator, images)
    rows = torch.arange(h, device=images.device).view(1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    inside = (((rows - cy.view(b, 1, 1)).abs() <= side.view(b, 1, 1) / 2)
              & ((cols - cx.view(b, 1, 1)).abs() <= side.view(b, 1, 1) / 2))
    return torch.where(inside.unsqueeze(1), torch.full_like(images, 0.5), images)


def rotate_shear(images: torch.Tensor, angle: torch.Tensor, shear: torch.Tensor) -> torch.Tensor:
    """Image ``i`` rotated by ``angle[i]`` radians and sheared horizontally by ``shear[i]`` about its centre, in
    one ``grid_sample``; the border colour extends into the corners a rotation uncovers."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = images.new_zeros(images.shape[0], 2, 3)  # output -> input coordinates: rotation times shear
    theta[:, 0, 0], theta[:, 0, 1] = cos, cos * shear - sin
    theta[:, 1, 0], theta[:, 1, 1] = sin, sin * shear + cos
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_rotate_shear(images: torch.Tensor, *, degrees: float = 30.0, shear: float = 0.3,
                        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Each image rotated by up to ``degrees`` and sheared by up to ``shear``, either way: RandAugment's
    Rotate and ShearX at their largest magnitude (30 degrees, 0.3)."""
    b = images.shape[0]
    return rotate_shear(images, _uniform(-math.radians(degrees), math.radians(degrees), (b,), generator, images),
                        _uniform(-shear, shear, (b,), generator, images))


def strong_augment(images: torch.Tensor, *, crop_scale=(0.5, 1.0)) -> torch.Tensor:
    """FixMatch's strong view with the batched operations here (RandAugment's geometric and colour ops,
    approximated): a random resized crop, rotation and shear, brightness/contrast jitter, blur, then cutout.
    No flip: a mirrored digit or letter is another symbol."""
    out = random_resized_crop(images, tuple(images.shape[-2:]), scale=crop_scale)
    out = random_rotate_shear(out)
    out = color_jitter(out, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.0, p=0.9)
    out = gaussian_blur(out, p=0.3)
    return cutout(out)
