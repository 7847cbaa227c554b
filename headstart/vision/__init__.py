"""Images: prepare (decode once into uint8 arrays), read batches, augment on the device."""
# Loaded on first use (PEP 562): registering the modality (plugin.py) imports this package, and that must
# not import its code (a text run imports no image decoder).
from ..lazy_api import lazy_getattr

_API = {
    "ImageArrays": ".arrays",
    "load_image_manifest": ".arrays",
    "SimCLRAugment": ".augment",
    "color_jitter": ".augment",
    "gaussian_blur": ".augment",
    "random_grayscale": ".augment",
    "random_resized_crop": ".augment",
    "ImageBatches": ".batches",
    "prepare_images": ".prepare",
    "sklearn_digits_images": ".prepare",
    "load_image_model": ".pretrained",
}
__all__ = sorted(_API)

__getattr__ = lazy_getattr(__name__, _API)
