"""Pixels at the prepared size: decode an image file once with Pillow, or fit an array of images.

Both resize the same way: scale until the image covers the target (the shorter side, for a square
target), then cut the centre.  Nothing is stretched, and the crop loses the least of the image.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

CHANNELS = {"RGB": 3, "L": 1}
RESAMPLE = Image.Resampling.BICUBIC


class UnreadableImage(Exception):
    """Why an input image was skipped (a one-line reason for the log and the manifest)."""

    reason = "unreadable"  # what the skip is counted as


class NonFiniteImage(UnreadableImage):
    """A float image (a TIFF of mode "F") holding NaN or infinite values: converting it to bytes would
    turn them into some pixel value without a word."""

    reason = "non_finite"


def decode_image(path: Path | bytes, height: int, width: int, mode: str) -> np.ndarray:
    """Decode a file (or the bytes of one), convert to ``mode``, cover-resize and centre-crop: (height, width, channels) uint8.

    Raises ``UnreadableImage`` for anything Pillow cannot decode completely.  ``load()`` decodes
    every pixel now, so a truncated file fails here rather than passing as a half-grey image
    (``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off on purpose).
    """
    try:
        with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as image:
            # JPEG only: let the decoder scale down by 1/2, 1/4 or 1/8 while it decodes, which is
            # several times faster for photos far larger than the target.  Both orientations are
            # covered because EXIF rotation is applied after decoding.
            side = max(_cover_size(image.size, height, width))
            image.draft(mode, (side, side))
            image.load()
            if image.mode == "F":
                _check_finite(np.asarray(image))
            image = ImageOps.exif_transpose(image)
            if image.mode == "I" or image.mode.startswith("I;16"):
                # 16-bit grayscale (PNG, TIFF): Pillow's conversion to 8 bits clips at 255, which
                # turns a normal exposure white; keep the top 8 bits instead.
                image = Image.fromarray((np.asarray(image).astype(np.int64) >> 8).clip(0, 255).astype(np.uint8))
            image = image.convert(mode)
            fitted = ImageOps.fit(image, (width, height), method=RESAMPLE, centering=(0.5, 0.5))
            pixels = np.asarray(fitted, dtype=np.uint8)
    except NonFiniteImage:
        raise
    except UnidentifiedImageError:
        raise UnreadableImage("not an image Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise UnreadableImage(f"too many pixels ({_one_line(error)})") from None
    except Exception as error:  # noqa: BLE001 - see below
        # Pillow's decoders report a damaged file as OSError ("image file is truncated"),
        # SyntaxError ("broken PNG file"), EOFError, struct.error, zlib.error, ValueError...:
        # any of them means this one file is unusable, and the run should go on without it.
        raise UnreadableImage(f"{type(error).__name__}: {_one_line(error)}") from None
    return pixels.reshape(height, width, CHANNELS[mode])


def _check_finite(values: np.ndarray) -> None:
    bad = values.size - int(np.isfinite(values).sum())
    if bad:
        raise NonFiniteImage(f"{bad:,} of {values.size:,} pixel values are NaN or infinite")


def _cover_size(size: tuple[int, int], height: int, width: int) -> tuple[int, int]:
    """The smallest (w, h) with the image's aspect ratio that covers width x height."""
    w, h = size
    scale = max(width / w, height / h)
    return math.ceil(w * scale), math.ceil(h * scale)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def fit_pixels(pixels: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    """(n, h, w, c) uint8 with c in 1, 3, 4 -> (n, height, width, channels of ``mode``) uint8."""
    channels = pixels.shape[-1]
    if channels == 4:  # RGBA: drop alpha, as Pillow's RGBA -> RGB conversion does
        pixels, channels = pixels[..., :3], 3
    if mode == "RGB" and channels == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    elif mode == "L" and channels == 3:
        # ITU-R 601-2 luma, the weights of Pillow's convert("L"), in integers as Pillow rounds them
        luma = pixels.astype(np.uint32) @ np.array([19595, 38470, 7471], dtype=np.uint32)
        pixels = ((luma + 0x8000) >> 16).astype(np.uint8)[..., None]
    if pixels.shape[1:3] == (height, width):
        return np.ascontiguousarray(pixels)
    squeeze = pixels.shape[-1] == 1  # Pillow reads (h, w) uint8 as "L" and (h, w, 3) as "RGB"
    return np.stack([
        np.asarray(ImageOps.fit(Image.fromarray(image[..., 0] if squeeze else image), (width, height),
                                method=RESAMPLE)).reshape(height, width, -1)
        for image in pixels
    ])
