"""Image backbones: a Vision Transformer on the shared transformer blocks, and a CIFAR-style ResNet."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from headstart.models.resnet import ResNet, ResNetConfig
from headstart.models.vision_presets import VISION_PRESETS, build_vision_model
from headstart.models.vit import ViTConfig, VisionTransformer, patchify


def tiny_vit(pool: str = "cls") -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(ViTConfig(image_size=(8, 12), patch_size=4, channels=3, n_layer=2, n_head=2,
                                       d_model=16, pool=pool))


def test_vit_shapes_with_and_without_a_cls_token():
    images = torch.rand(5, 3, 8, 12)  # 2 x 3 = 6 patches
    vit = tiny_vit("cls")
    assert vit.cfg.num_patches == 6 and vit.num_prefix_tokens == 1
    assert vit.hidden_states(images).shape == (5, 7, 16)
    assert vit.patch_tokens(images).shape == (5, 6, 16)
    assert vit.features(images).shape == (5, 16) and vit.feature_dim == 16
    mean_pooled = tiny_vit("mean")
    assert mean_pooled.hidden_states(images).shape == (5, 6, 16)
    torch.testing.assert_close(mean_pooled.features(images), mean_pooled.patch_tokens(images).mean(1))


def test_vit_encodes_a_subset_of_patches_at_their_own_positions():
    vit = tiny_vit().eval()
    images = torch.rand(2, 3, 8, 12)
    everything = vit.patch_tokens(images)
    visible = torch.tensor([[4, 0, 2], [1, 5, 3]])  # a different subset per image, in any order
    subset = vit.patch_tokens(images, visible=visible)
    assert subset.shape == (2, 3, 16)
    # All patches listed in a shuffled order: attention has no order, positions travel with patches.
    shuffled = torch.tensor([[3, 1, 5, 0, 4, 2]] * 2)
    torch.testing.assert_close(vit.patch_tokens(images, visible=shuffled), everything[:, shuffled[0]])
    # A subset is encoded without the others: its output differs from the full sequence's.
    assert not torch.allclose(subset[0, 1], everything[0, 0], atol=1e-4)


def test_vit_config_checks_the_patch_grid_and_the_image_size():
    with pytest.raises(ValidationError, match="not a multiple of patch_size 5"):
        ViTConfig(image_size=32, patch_size=5, n_layer=1, n_head=2, d_model=16)
    with pytest.raises(ValidationError, match="divisible by n_head"):
        ViTConfig(image_size=32, patch_size=4, n_layer=1, n_head=3, d_model=16)
    with pytest.raises(ValueError, match=r"images of \(8, 8\) pixels, but the model was built for \(8, 12\)"):
        tiny_vit().features(torch.rand(1, 3, 8, 8))


def test_patchify_lists_each_patch_row_major_with_channels_last():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    patches = patchify(images, 2)  # (2, 4 patches, 2 * 2 * 3 values)
    assert patches.shape == (2, 4, 12)
    top_right = images[1, :, 0:2, 2:4]  # patch 1 of image 1
    torch.testing.assert_close(patches[1, 1], top_right.permute(1, 2, 0).reshape(-1))


def test_resnet_cifar_stem_keeps_the_resolution():
    torch.manual_seed(0)
    resnet = ResNet(ResNetConfig(channels=3, widths=(8, 16, 32), blocks=(1, 2, 1)))
    images = torch.rand(4, 3, 32, 32)
    assert resnet.stem(images).shape == (4, 8, 32, 32)  # 3x3 stride-1 stem, no max-pool
    assert not any(isinstance(m, nn.MaxPool2d) for m in resnet.modules())
    assert resnet.feature_map(images).shape == (4, 32, 8, 8)  # each later stage halves it
    assert resnet.features(images).shape == (4, 32) and resnet.feature_dim == 32
    torch.testing.assert_close(resnet.hidden_states(images).mean(1), resnet.features(images))


def test_presets_build_for_the_data_they_meet():
    vit = build_vision_model("vit-nano", image_size=8, channels=1, patch_size=2)
    assert vit.features(torch.rand(2, 1, 8, 8)).shape == (2, 128)
    resnet = build_vision_model("resnet-tiny", image_size=28, channels=1)
    assert resnet.features(torch.rand(2, 1, 28, 28)).shape == (2, 128)
    assert {"vit-tiny", "vit-small", "resnet-tiny", "resnet18-cifar"} <= set(VISION_PRESETS)
    with pytest.raises(ValueError, match="unknown vision preset 'vit-huge'; known presets: resnet-tiny"):
        build_vision_model("vit-huge", image_size=32, channels=3)


def test_resnet_training_flops_are_the_convolutions_counted_by_torch_times_three():
    model = ResNet(ResNetConfig(channels=1, widths=(8,), blocks=(1,)))
    stem = 8 * 8 * 8 * 1 * 9 * 2  # output pixels x out channels x in channels x 3x3 taps x (multiply + add)
    block = 2 * (8 * 8 * 8 * 8 * 9 * 2)  # a BasicBlock's two 3x3 convolutions
    assert model.train_flops_per_image((8, 8)) == 3 * (stem + block)
    assert model.train_flops_per_image((16, 16)) == 4 * model.train_flops_per_image((8, 8))
    assert model.training  # counting leaves the mode (and BatchNorm's statistics) as they were
