"""`prepare_images`: image files and arrays -> uint8 arrays + manifest.json, and batches from them.

Each test builds its images in tmp_path and reads like a usage example.  The MNIST test uses
../shared/data and skips when it is absent (a fresh checkout).
"""
from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest
from PIL import Image

from headstart.errors import HeadstartError
from headstart.vision import ImageArrays, ImageBatches, prepare_images, sklearn_digits_images

from helpers import shared, write

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def save_image(path, size=(12, 10), color=RED, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode != "L" else 128).save(path)
    return path


def noise_jpeg(path, size=64):
    """A JPEG of random pixels: big enough that cutting it loses scan data, not just the end marker."""
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def write_idx(path, array: np.ndarray):
    """An idx file as MNIST ships it: gzip, big-endian header, then the values."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
    return path


@pytest.fixture
def folder_with_bad_files(tmp_path):
    """Eight good images, a truncated JPEG and a text file named .png."""
    for i in range(8):
        save_image(tmp_path / "photos" / f"good_{i}.png", size=(20 + i, 16))
    whole = noise_jpeg(tmp_path / "whole.jpg").read_bytes()
    write(tmp_path / "photos" / "cut.jpg", whole[: len(whole) * 2 // 3])
    write(tmp_path / "photos" / "notes.png", "not an image, despite the name\n")
    return tmp_path / "photos"


# --- folders of image files ---------------------------------------------------------------------

def test_a_folder_of_mixed_images_becomes_one_size_and_mode(tmp_path):
    save_image(tmp_path / "in" / "wide.png", size=(40, 20))
    save_image(tmp_path / "in" / "gray.jpg", size=(15, 30), mode="L")
    save_image(tmp_path / "in" / "sub" / "alpha.png", size=(16, 16), color=(0, 0, 255, 0), mode="RGBA")
    manifest = prepare_images([tmp_path / "in"], tmp_path / "out", size=16, val_fraction=0)
    train = ImageArrays(tmp_path / "out", "train")
    assert manifest["shape"] == [16, 16, 3] and train.shape == (16, 16, 3) and len(train) == 3
    assert train.labels is None and train.class_names is None  # images directly in the folder: unlabeled
    stats = manifest["stats"]
    assert (stats["images_found"], stats["kept"], stats["skipped"]) == (3, 3, 0)
    assert (tmp_path / "out" / "manifest.json").is_file() and not list(tmp_path.glob("out.tmp-*"))


def test_16_bit_images_keep_their_brightness(tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(np.full((6, 6), 32768, dtype=np.uint16)).save(tmp_path / "in" / "scan.png")  # mid-grey
    prepare_images(tmp_path / "in", tmp_path / "out", size=6, mode="L", val_fraction=0)
    pixels, _ = ImageArrays(tmp_path / "out").read([0])
    assert (pixels == 128).all()  # Pillow's own conversion would clip it to 255, white


def test_images_are_resized_to_cover_and_centre_cropped_not_stretched(tmp_path):
    stripes = np.zeros((20, 60, 3), dtype=np.uint8)  # 60 wide: red | green | blue thirds
    stripes[:, :20, 0] = stripes[:, 20:40, 1] = stripes[:, 40:, 2] = 255
    (tmp_path / "in").mkdir()
    Image.fromarray(stripes).save(tmp_path / "in" / "stripes.png")
    prepare_images(tmp_path / "in", tmp_path / "out", size=10, val_fraction=0)
    pixels, _ = ImageArrays(tmp_path / "out").read([0])
    # Scaled to 30x10 (the short side to 10), then the centre 10 columns kept: the green third.
    assert pixels.shape == (1, 10, 10, 3)
    assert (pixels[0, :, 2:8, 1] > 200).all() and (pixels[0, :, 2:8, [0, 2]] < 50).all()


def test_truncated_and_fake_images_are_skipped_counted_and_named(folder_with_bad_files, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="headstart.vision"):
        manifest = prepare_images(folder_with_bad_files, tmp_path / "out", size=8, max_bad_fraction=0.25)
    stats = manifest["stats"]
    assert (stats["images_found"], stats["kept"], stats["skipped"]) == (10, 8, 2)
    reasons = {entry["file"].rsplit("/", 1)[-1]: entry["reason"] for entry in stats["skipped_files"]}
    assert set(reasons) == {"cut.jpg", "notes.png"}
    assert "truncated" in reasons["cut.jpg"] and reasons["notes.png"] == "not an image Pillow can read"
    assert "cut.jpg" in caplog.text and "notes.png" in caplog.text
    # The arrays hold exactly the images kept, though they were sized for all ten before decoding.
    assert len(ImageArrays(tmp_path / "out", "train")) + len(ImageArrays(tmp_path / "out", "val")) == 8


def test_too_many_unreadable_images_fail_in_one_line_and_write_nothing(folder_with_bad_files, tmp_path):
    with pytest.raises(HeadstartError, match=r"more than 1\.0% of the 10 images are unreadable \(1 so far: "
                                             r"(cut\.jpg|notes\.png): .*raise max_bad_fraction") as error:
        prepare_images(folder_with_bad_files, tmp_path / "out", size=8)  # default max_bad_fraction: 1%
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("out.tmp-*"))


def test_image_files_need_a_size(tmp_path):
    save_image(tmp_path / "in" / "a.png")
    with pytest.raises(HeadstartError, match="image files differ in size; pass size"):
        prepare_images(tmp_path / "in", tmp_path / "out")


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    save_image(tmp_path / "in" / "a.png")
    prepare_images(tmp_path / "in", tmp_path / "out", size=4, val_fraction=0)
    with pytest.raises(HeadstartError, match="already exists and is not empty; pass --overwrite"):
        prepare_images(tmp_path / "in", tmp_path / "out", size=4, val_fraction=0)
    assert prepare_images(tmp_path / "in", tmp_path / "out", size=6, val_fraction=0, overwrite=True)["shape"][0] == 6


# --- labels ---------------------------------------------------------------------------------------

def test_class_folders_give_labels_and_class_names(tmp_path):
    for i in range(3):
        save_image(tmp_path / "train" / "cat" / f"{i}.png", color=RED)
        save_image(tmp_path / "train" / "dog" / "nested" / f"{i}.jpg", color=BLUE)
    save_image(tmp_path / "extra" / "dog" / "x.png", color=BLUE)  # a second input without cats
    manifest = prepare_images([tmp_path / "train", tmp_path / "extra"], tmp_path / "out", size=8, val_fraction=0)
    assert manifest["class_names"] == ["cat", "dog"]
    train = ImageArrays(tmp_path / "out")
    pixels, labels = train.read(range(len(train)))
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1, 1]  # dog is 1 in both inputs
    reddest = pixels[..., 0].mean((1, 2)) > pixels[..., 2].mean((1, 2))
    assert (reddest == (labels == 0)).all()


def test_labeled_and_unlabeled_inputs_do_not_mix(tmp_path):
    save_image(tmp_path / "labeled" / "cat" / "a.png")
    save_image(tmp_path / "loose" / "b.png")
    with pytest.raises(HeadstartError, match="loose: has no labels but .*labeled has"):
        prepare_images([tmp_path / "labeled", tmp_path / "loose"], tmp_path / "out", size=8)


# --- arrays: idx, npz, npy ------------------------------------------------------------------------

def test_idx_images_and_their_labels_file_round_trip(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (12, 5, 7), dtype=np.uint8)
    labels = np.arange(12) % 4
    write_idx(tmp_path / "tiny-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "tiny-labels-idx1-ubyte.gz", labels)  # found beside the images by its name
    manifest = prepare_images(tmp_path / "tiny-images-idx3-ubyte.gz", tmp_path / "out", mode="L", val_fraction=0)
    assert manifest["shape"] == [5, 7, 1] and manifest["class_names"] == ["0", "1", "2", "3"]
    pixels, read_labels = ImageArrays(tmp_path / "out").read(range(12))
    np.testing.assert_array_equal(pixels[..., 0], images)
    np.testing.assert_array_equal(read_labels, labels)

    prepare_images(tmp_path / "tiny-images-idx3-ubyte.gz", tmp_path / "rgb", val_fraction=0)  # mode="RGB"
    rgb, _ = ImageArrays(tmp_path / "rgb").read([0])
    assert rgb.shape == (1, 5, 7, 3) and (rgb == images[0, :, :, None]).all()


def test_an_idx_file_with_a_bad_header_is_named(tmp_path):
    write(tmp_path / "broken-images-idx3-ubyte", b"\x12\x34\x08\x03" + bytes(12))
    with pytest.raises(HeadstartError, match=r"broken-images-idx3-ubyte: not an idx file \(header bytes 12 34 08 03"):
        prepare_images(tmp_path / "broken-images-idx3-ubyte", tmp_path / "out")


def test_npz_with_x_and_y_channels_first(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (6, 3, 4, 5), dtype=np.uint8)  # (N, C, H, W)
    np.savez(tmp_path / "set.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
    manifest = prepare_images(tmp_path / "set.npz", tmp_path / "out", val_fraction=0)
    assert manifest["shape"] == [4, 5, 3]
    pixels, labels = ImageArrays(tmp_path / "out").read(range(6))
    np.testing.assert_array_equal(pixels, x.transpose(0, 2, 3, 1))
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]


def test_arrays_are_never_unpickled(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(HeadstartError, match="objects.npy: not a readable NumPy file"):
        prepare_images(tmp_path / "objects.npy", tmp_path / "out")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(HeadstartError, match="objects.npz: not a readable NumPy file .*allow_pickle=False"):
        prepare_images(tmp_path / "objects.npz", tmp_path / "out")
    np.savez(tmp_path / "wrong.npz", images=np.zeros((2, 4, 4), dtype=np.uint8))
    with pytest.raises(HeadstartError, match=r"wrong.npz: no array 'x' \(found images\)"):
        prepare_images(tmp_path / "wrong.npz", tmp_path / "out")


def test_mnist_test_set_from_shared_data(tmp_path):
    images_file = shared("mnist/t10k-images-idx3-ubyte.gz")
    manifest = prepare_images(images_file, tmp_path / "mnist", mode="L")
    train, val = ImageArrays(tmp_path / "mnist", "train"), ImageArrays(tmp_path / "mnist", "val")
    assert len(train) + len(val) == 10_000 and 900 < len(val) < 1100  # val_fraction 0.1
    assert train.shape == (28, 28, 1) and manifest["class_names"] == [str(d) for d in range(10)]
    with gzip.open(shared("mnist/t10k-labels-idx1-ubyte.gz")) as f:
        raw_labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    counts = np.bincount(np.concatenate([train.labels, val.labels]), minlength=10)
    np.testing.assert_array_equal(counts, np.bincount(raw_labels, minlength=10))


def test_sklearn_digits_is_a_built_in_labeled_set(tmp_path):
    manifest = sklearn_digits_images(tmp_path / "digits")
    train = ImageArrays(tmp_path / "digits", "train")
    assert manifest["shape"] == [8, 8, 1] and train.num_classes == 10
    assert manifest["splits"]["train"]["images"] + manifest["splits"]["val"]["images"] == 1797
    pixels, _ = train.read(range(len(train)))
    assert pixels.max() == 255 and pixels.min() == 0  # 0..16 intensities stretched to the full byte


# --- batches --------------------------------------------------------------------------------------

@pytest.fixture
def twelve_images(tmp_path):
    x = np.arange(12, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2)  # image i is all i
    np.savez(tmp_path / "set.npz", x=x, y=np.arange(12) % 3)
    prepare_images(tmp_path / "set.npz", tmp_path / "out", mode="L", val_fraction=0)
    return ImageArrays(tmp_path / "out")


def image_ids(batch) -> list[int]:
    return (batch["images"][:, 0, 0, 0] * 255).round().long().tolist()


def test_a_batch_is_a_pure_function_of_seed_and_index(twelve_images):
    batch = ImageBatches(twelve_images, batch_size=4, seed=7).batch(5)
    again = ImageBatches(twelve_images, batch_size=4, seed=7)  # a fresh source, as after a resume
    assert image_ids(again.batch(5)) == image_ids(batch)
    assert batch["images"].shape == (4, 1, 4, 4) and batch["images"].dtype.is_floating_point
    assert (batch["labels"] == batch["images"][:, 0, 0, 0].mul(255).round().long() % 3).all()
    assert image_ids(ImageBatches(twelve_images, batch_size=4, seed=8).batch(5)) != image_ids(batch)


def test_each_epoch_shows_every_image_once_and_ranks_never_share(twelve_images):
    source = ImageBatches(twelve_images, batch_size=4, seed=0)
    for epoch in range(2):
        seen = sum((image_ids(source.batch(3 * epoch + i)) for i in range(3)), [])
        assert sorted(seen) == list(range(12))
    ranks = [ImageBatches(twelve_images, batch_size=2, seed=0, rank=r, world_size=3) for r in range(3)]
    seen = sum((image_ids(rank.batch(i)) for rank in ranks for i in range(2)), [])
    assert sorted(seen) == list(range(12))


def test_cli_prepares_images_and_names_what_it_skipped(folder_with_bad_files, tmp_path):
    from test_pretrain_cli import run_cli

    code, out = run_cli("prepare", "images", folder_with_bad_files, "--out", tmp_path / "out", "--size", "8",
                        "--max-bad-fraction", "0.25", "--no-progress")
    assert code == 0, out
    assert "10 found, 8 kept" in out and "8x8x3 uint8" in out and "no labels" in out
    assert "skipped 2 unreadable image(s)" in out and "cut.jpg" in out and "notes.png" in out
    code, out = run_cli("prepare", "images", folder_with_bad_files, "--out", tmp_path / "strict", "--size", "8")
    assert code == 2 and "max_bad_fraction" in out and "Traceback" not in out
