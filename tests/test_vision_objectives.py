"""Image objectives (SimCLR, MAE, supervised classification) and the batched augmentations they use."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from headstart.models.resnet import ResNet, ResNetConfig
from headstart.models.vit import ViTConfig, VisionTransformer, patchify
from headstart.objectives.image_classification import ImageClassification
from headstart.objectives.mae import MAE, masked_patch_loss, random_patch_mask
from headstart.objectives.simclr import SimCLR, embedding_std, nt_xent_loss
from headstart.vision.augment import (SimCLRAugment, color_jitter, gaussian_blur, random_grayscale,
                                      random_resized_crop, random_rotate_shear, rotate_shear)


def tiny_resnet(channels: int = 3) -> ResNet:
    return ResNet(ResNetConfig(channels=channels, widths=(8, 16), blocks=(1, 1)))


# --- augmentations --------------------------------------------------------------------------------

def test_simclr_augment_is_deterministic_under_a_seeded_generator_and_keeps_range():
    images = torch.rand(6, 3, 16, 16)
    augment = SimCLRAugment(size=12)
    first = augment(images, generator=torch.Generator().manual_seed(3))
    again = augment(images, generator=torch.Generator().manual_seed(3))
    other = augment(images, generator=torch.Generator().manual_seed(4))
    assert first.shape == (6, 3, 12, 12)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.min() >= 0 and first.max() <= 1
    assert augment(torch.rand(2, 1, 16, 16)).shape == (2, 1, 12, 12)  # grayscale images too


def test_a_whole_frame_crop_is_the_identity_and_flip_mirrors():
    images = torch.rand(3, 3, 8, 10)
    whole = dict(size=(8, 10), scale=(1.0, 1.0), ratio=(10 / 8, 10 / 8))
    torch.testing.assert_close(random_resized_crop(images, **whole), images)
    torch.testing.assert_close(random_resized_crop(images, **whole, flip_p=1.0), images.flip(-1))


def test_rotate_shear_is_the_identity_at_zero_and_a_quarter_turn_is_rot90():
    images = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(random_rotate_shear(images, degrees=0.0, shear=0.0), images)
    quarter = rotate_shear(images, torch.full((3,), math.pi / 2), torch.zeros(3))
    torch.testing.assert_close(quarter, torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    sheared = rotate_shear(images, torch.zeros(3), torch.full((3,), 0.3))
    torch.testing.assert_close(sheared[:, :, 4], images[:, :, 4], atol=0.2, rtol=0)  # rows near the centre move least
    assert not torch.allclose(sheared, images)


def test_colour_augmentations_do_nothing_when_off_and_blur_keeps_flat_images_flat():
    images = torch.rand(4, 3, 9, 9)
    # Tiny hue shift: exercises the RGB -> HSV -> RGB round trip.
    unchanged = color_jitter(images, brightness=0, contrast=0, saturation=0, hue=1e-7, p=1.0)
    torch.testing.assert_close(unchanged, images, atol=1e-5, rtol=0)
    assert torch.equal(random_grayscale(images, p=0.0), images)
    gray = random_grayscale(images, p=1.0)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    flat = torch.full((2, 3, 9, 9), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, p=1.0), flat)
    assert torch.equal(gaussian_blur(images, p=0.0), images)
    assert not torch.allclose(gaussian_blur(images, p=1.0, sigma=(2.0, 2.0)), images)


# --- SimCLR ---------------------------------------------------------------------------------------

def test_nt_xent_equals_a_hand_computation_on_two_pairs():
    z_a, z_b = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[3.0, 1.0], [-1.0, 1.0]])
    t = 0.5
    views = F.normalize(torch.cat((z_a, z_b)), dim=1)  # views 0, 1 pair with 2, 3
    partner = {0: 2, 1: 3, 2: 0, 3: 1}
    expected = 0.0
    for i in range(4):
        others = [j for j in range(4) if j != i]
        scores = {j: float(views[i] @ views[j]) / t for j in others}
        expected += -scores[partner[i]] + math.log(sum(math.exp(s) for s in scores.values()))
    loss, accuracy = nt_xent_loss(z_a, z_b, temperature=t)
    assert loss.item() == pytest.approx(expected / 4, rel=1e-5)
    assert 0 <= accuracy.item() <= 1
    aligned, accuracy = nt_xent_loss(torch.eye(4), torch.eye(4), temperature=0.1)
    assert accuracy.item() == 1.0 and aligned.item() < 0.01


def test_nt_xent_over_ranks_equals_the_loss_over_the_global_batch(monkeypatch):
    """Under torch.distributed each rank scores its own views against every rank's: averaged over
    ranks, that is the single-device loss of the whole batch (simulated here with two ranks)."""
    import headstart.objectives.simclr as simclr

    torch.manual_seed(0)
    z_a, z_b = torch.randn(4, 8), torch.randn(4, 8)
    single_device, _ = nt_xent_loss(z_a, z_b)
    local = [F.normalize(torch.cat((z_a[2 * r: 2 * r + 2], z_b[2 * r: 2 * r + 2])), dim=1) for r in range(2)]
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(simclr, "gather_across_ranks", lambda z, rank=rank: (torch.cat(local), 4 * rank))
        per_rank.append(nt_xent_loss(z_a[2 * rank: 2 * rank + 2], z_b[2 * rank: 2 * rank + 2])[0])
    torch.testing.assert_close(sum(per_rank) / 2, single_device)


def test_embedding_std_is_about_one_when_spread_and_zero_when_collapsed():
    torch.manual_seed(0)
    assert embedding_std(torch.randn(512, 64)).item() == pytest.approx(1.0, abs=0.1)
    collapsed = torch.ones(512, 64) + 1e-4 * torch.randn(512, 64)
    assert embedding_std(collapsed).item() < 0.01


def test_simclr_loss_is_finite_and_falls_on_an_easy_problem():
    torch.manual_seed(0)
    images = torch.rand(16, 3, 8, 8)
    jitter = lambda x: (x + 0.05 * torch.randn_like(x)).clamp(0, 1)  # noqa: E731 - easy views
    objective = SimCLR(tiny_resnet(), jitter, projection_dim=16, hidden_dim=32, temperature=0.5)
    optimizer = torch.optim.Adam(objective.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        out = objective({"images": images})
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0] - 0.3
    assert set(out.metrics) == {"loss", "contrastive_accuracy", "embedding_std"}
    assert out.metrics["embedding_std"] > 0.1 and out.metrics["contrastive_accuracy"] > 0.5


# --- MAE ------------------------------------------------------------------------------------------

def test_random_patch_mask_hides_75_percent_of_each_image_differently():
    torch.manual_seed(0)
    visible, masked = random_patch_mask(batch=4, num_patches=64, mask_ratio=0.75)
    assert visible.shape == (4, 16) and (masked.sum(1) == 48).all()
    assert not masked.gather(1, visible).any()  # visible patches are exactly the unmasked ones
    assert len({tuple(row.tolist()) for row in masked}) == 4


def test_mae_loss_counts_only_the_masked_patches():
    target = torch.rand(2, 6, 12)
    masked = torch.tensor([[True, False, True, False, False, False], [False] * 5 + [True]])
    normalised = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    predicted = torch.where(masked.unsqueeze(-1), normalised, torch.full_like(target, 100.0))  # wrong where visible
    assert masked_patch_loss(predicted, target, masked).item() == pytest.approx(0.0, abs=1e-6)
    raw = torch.where(masked.unsqueeze(-1), target + 1.0, target)
    assert masked_patch_loss(raw, target, masked, norm_pix=False).item() == pytest.approx(1.0)


def test_mae_trains_the_encoder_on_visible_patches_and_the_decoder():
    torch.manual_seed(0)
    vit = VisionTransformer(ViTConfig(image_size=8, patch_size=2, channels=1, n_layer=1, n_head=2, d_model=16))
    mae = MAE(vit, decoder_dim=16, decoder_layers=1, decoder_heads=2)
    seen = []
    vit.stack.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    out = mae({"images": torch.rand(3, 1, 8, 8)})
    assert seen == [1 + 4]  # CLS + a quarter of the 16 patches
    out.loss.backward()
    assert math.isfinite(out.loss.item())
    assert vit.embedding.patch.weight.grad.abs().sum() > 0 and mae.decoder.mask_token.grad.abs().sum() > 0
    assert patchify(torch.rand(3, 1, 8, 8), 2).shape[-1] == mae.decoder.predict.out_features
    with pytest.raises(ValueError, match="leave at least one of 16 patches visible"):
        MAE(vit, mask_ratio=0.99)


# --- supervised -----------------------------------------------------------------------------------

def test_image_classification_starts_uniform_and_learns_bright_from_dark():
    torch.manual_seed(0)
    images = torch.cat((torch.rand(8, 1, 8, 8) * 0.3, 0.7 + torch.rand(8, 1, 8, 8) * 0.3))
    labels = torch.tensor([0] * 8 + [1] * 8)
    objective = ImageClassification(tiny_resnet(channels=1), num_classes=2)
    first = objective({"images": images, "labels": labels})
    assert first.loss.item() == pytest.approx(math.log(2))  # zero-initialised head: uniform predictions
    optimizer = torch.optim.Adam(objective.parameters(), lr=1e-2)
    for _ in range(10):
        out = objective({"images": images, "labels": labels})
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    objective.eval()
    final = objective({"images": images, "labels": labels})
    assert final.metrics["accuracy"].item() == 1.0 and final.loss.item() < first.loss.item()
