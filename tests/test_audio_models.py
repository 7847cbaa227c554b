"""The speech encoder and BEST-RQ: shapes, padding that changes nothing, fixed targets, and learning."""
from __future__ import annotations

import pytest
import torch

from headstart.models.audio_encoder import AudioEncoder, audio_config, subsampled_length
from headstart.objectives.audio_classification import AudioClassification
from headstart.objectives.best_rq import BestRQ


def tiny_encoder(n_mels: int = 16) -> AudioEncoder:
    torch.manual_seed(0)
    return AudioEncoder(audio_config("audio-tiny", n_mels=n_mels, n_layer=2, d_model=32, n_head=2,
                                     conv_channels=8))


def test_encoder_subsamples_time_by_four_and_pools_only_real_frames():
    model = tiny_encoder().eval()
    frames = torch.randn(3, 77, 16)
    mask = torch.ones(3, 77, dtype=torch.bool)
    mask[0, 50:] = False
    hidden, out_mask = model.encode(frames, mask)
    assert hidden.shape == (3, subsampled_length(77), 32) == (3, 20, 32)
    assert out_mask[0].sum() == subsampled_length(50) and out_mask[1].all()
    # A clip padded in a batch encodes as it does alone: padding never leaks into real positions.
    alone = model.features(frames[:1, :50])
    assert torch.allclose(model.features(frames, mask)[:1], alone, atol=1e-5)


def test_encoder_refuses_clips_longer_than_it_was_built_for():
    model = AudioEncoder(audio_config("audio-tiny", n_mels=8, n_layer=1, d_model=16, n_head=2, max_frames=40))
    with pytest.raises(ValueError, match="max_frames=40"):
        model.encode(torch.randn(1, 41, 8))


def test_best_rq_targets_are_fixed_by_the_seed_and_masking_spares_padding():
    frames = torch.randn(4, 60, 16)
    a, b = BestRQ(tiny_encoder(), codebook_size=64, seed=3), BestRQ(tiny_encoder(), codebook_size=64, seed=3)
    assert torch.equal(a.targets(frames), b.targets(frames))
    assert a.targets(frames).shape == (4, 15, 1) and int(a.targets(frames).max()) < 64
    other = BestRQ(tiny_encoder(), codebook_size=64, seed=4)
    assert not torch.equal(a.targets(frames), other.targets(frames))
    # The quantizer is saved with the objective (so a resume keeps the targets) and never trains.
    assert {"projection", "codebooks"} <= set(a.state_dict()) and not any(
        name.startswith(("projection", "codebooks")) for name, _ in a.named_parameters())

    padding = torch.ones(4, 60, dtype=torch.bool)
    padding[:, 40:] = False
    torch.manual_seed(0)
    masked = a.span_mask(padding)
    assert not masked[:, 40:].any()
    share = masked[:, :40].float().mean().item()  # 1 - (1 - 0.05)^10 = 0.40 expected
    assert 0.2 < share < 0.6


def test_best_rq_learns_to_predict_the_masked_targets():
    torch.manual_seed(0)
    objective = BestRQ(tiny_encoder(), codebook_size=32, mask_prob=0.1, mask_span=4)
    frames = torch.randn(8, 40, 16)
    batch = {"features": frames, "padding_mask": torch.ones(8, 40, dtype=torch.bool)}
    optimizer = torch.optim.AdamW(objective.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        out = objective(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert losses[0] > 3.0  # about ln 32 = 3.47 at the start
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0, losses[::10]


def test_audio_classification_reads_features_and_padding():
    objective = AudioClassification(tiny_encoder(), num_classes=3)
    batch = {"features": torch.randn(2, 30, 16), "padding_mask": torch.ones(2, 30, dtype=torch.bool),
             "labels": torch.tensor([0, 2])}
    out = objective(batch)
    assert objective.logits(batch).shape == (2, 3) and abs(out.loss.item() - torch.log(torch.tensor(3.0)).item()) < 1e-5


def test_utterance_norm_makes_a_microphones_offset_per_mel_bin_irrelevant():
    model = tiny_encoder().eval()
    frames, mask = torch.randn(2, 40, 16), torch.ones(2, 40, dtype=torch.bool)
    mask[1, 25:] = False
    frames[1, 25:] = 0
    microphone = torch.randn(1, 1, 16) * 3  # a fixed gain per band is an offset in log-mels
    with torch.no_grad():
        assert torch.allclose(model.features(frames + microphone * mask[..., None], mask),
                              model.features(frames, mask), atol=1e-5)


def test_spec_augment_masks_bands_and_spans_inside_each_clip_only():
    from headstart.audio.augment import spec_augment

    torch.manual_seed(0)
    frames, mask = torch.ones(64, 50, 40), torch.ones(64, 50, dtype=torch.bool)
    mask[:, 30:] = False
    out = spec_augment(frames * mask[..., None], mask, freq_masks=1, freq_width=8, time_masks=1, time_width=10)
    zeroed = out == 0
    bins_cut = zeroed[:, :30].all(1).sum(1)  # whole mel bins blanked over the real frames
    frames_cut = zeroed[:, :30].all(2).sum(1)  # whole real frames blanked
    assert bins_cut.max() <= 8 and frames_cut.max() <= 6  # at most 20% of the 30 real frames
    assert bins_cut.float().mean() > 2 and frames_cut.float().mean() > 1  # and it does mask
    assert out[:, 30:].eq(0).all()  # padding stays padding


def test_pitch_and_speed_perturbation_warps_the_mel_axis_and_shortens_a_faster_clip():
    from headstart.audio.augment import random_warp_and_stretch, warp_and_stretch

    torch.manual_seed(0)
    frames, mask = torch.randn(2, 40, 16), torch.ones(2, 40, dtype=torch.bool)
    mask[1, 20:] = False
    frames[1, 20:] = 7.0  # padding that must not leak into the clip
    # grid_sample's coordinates go through float32 normalisation: exact sampling points are exact to ~1e-5.
    close = dict(atol=1e-4, rtol=0)
    ones = torch.ones(2)
    same, same_mask = warp_and_stretch(frames, mask, ones, ones)
    assert torch.allclose(same[0], frames[0], **close) and torch.equal(same_mask, mask)
    assert torch.allclose(same[1, :20], frames[1, :20], **close) and same[1, 20:].eq(0).all()
    fast, fast_mask = warp_and_stretch(frames, mask, ones, torch.full((2,), 2.0))
    assert fast_mask.sum(1).tolist() == [20, 10]  # twice as fast: half the frames
    assert torch.allclose(fast[0, 3], (frames[0, 6] + frames[0, 7]) / 2, **close)  # frame t reads 2t + 0.5
    low, _ = warp_and_stretch(frames, mask, torch.full((2,), 0.5), ones)
    assert torch.allclose(low[0, :, 4], 0.25 * frames[0, :, 1] + 0.75 * frames[0, :, 2], **close)  # bin m reads m/2 - 0.25
    noisy, noisy_mask = random_warp_and_stretch(frames, mask)
    assert noisy.shape == frames.shape and 18 <= int(noisy_mask[1].sum()) <= 22 and noisy[1, 23:].eq(0).all()
