"""Images: prepare (decode once into uint8 arrays), read batches, augment on the device."""
from .arrays import ImageArrays, load_image_manifest
from .augment import SimCLRAugment, color_jitter, gaussian_blur, random_grayscale, random_resized_crop
from .batches import ImageBatches
from .prepare import prepare_images, sklearn_digits_images
from .pretrained import load_image_model

__all__ = ["ImageArrays", "ImageBatches", "SimCLRAugment", "color_jitter", "gaussian_blur", "load_image_manifest",
           "load_image_model", "prepare_images", "random_grayscale", "random_resized_crop", "sklearn_digits_images"]
