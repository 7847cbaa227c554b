"""headstart's ``Linear``: the oneDNN CPU path gives nn.Linear's outputs and gradients, and steps aside
wherever it does not apply."""
import importlib
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from headstart.finetune.lora import LoRALinear, add_lora
from headstart.kernels import Linear

kernel = importlib.import_module("headstart.kernels.linear")

needs_onednn = pytest.mark.skipif(kernel._ONEDNN_LINEAR is None, reason="this PyTorch has no usable oneDNN linear op")


@pytest.fixture
def onednn_always(monkeypatch):
    """Every fp32 CPU product through oneDNN, whatever this CPU's vendor and however small."""
    monkeypatch.setattr(kernel, "_LINEAR", kernel._ONEDNN_LINEAR)
    monkeypatch.setattr(kernel, "MIN_PRODUCT", 0)


def grads_of(module, x, loss_of):
    x = x.detach().clone().requires_grad_()
    loss_of(module(x)).backward()
    return [x.grad] + [p.grad for p in module.parameters()]


def twin_layers(in_features, out_features, bias):
    ours = Linear(in_features, out_features, bias=bias)
    plain = nn.Linear(in_features, out_features, bias=bias)
    plain.load_state_dict(ours.state_dict())
    return ours, plain


@needs_onednn
@pytest.mark.parametrize("in_features,out_features", [(48, 160), (160, 48), (64, 64)])  # wide, tall, square
@pytest.mark.parametrize("bias", [True, False])
def test_outputs_and_gradients_match_nn_linear(onednn_always, in_features, out_features, bias):
    torch.manual_seed(0)
    ours, plain = twin_layers(in_features, out_features, bias)
    x = torch.randn(3, 37, in_features)  # 3-D input, rows not a multiple of any block size
    target = torch.randn(3, 37, out_features)

    def loss(y):
        return F.mse_loss(y, target)

    torch.testing.assert_close(ours(x), plain(x), rtol=1e-5, atol=1e-5)
    for g_ours, g_plain in zip(grads_of(ours, x, loss), grads_of(plain, x, loss)):
        torch.testing.assert_close(g_ours, g_plain, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_an_expanded_gradient_is_made_dense_first(onednn_always):
    # y.sum().backward() sends a gradient with zero strides; oneDNN's fast kernels need real ones.
    ours, plain = twin_layers(32, 96, True)
    x = torch.randn(50, 32)
    for g_ours, g_plain in zip(grads_of(ours, x, torch.sum), grads_of(plain, x, torch.sum)):
        torch.testing.assert_close(g_ours, g_plain, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_a_frozen_weight_gets_no_gradient(onednn_always):
    ours, _ = twin_layers(16, 24, True)
    ours.weight.requires_grad_(False)
    x = torch.randn(8, 16, requires_grad=True)
    ours(x).sum().backward()
    assert ours.weight.grad is None and x.grad is not None and ours.bias.grad is not None


@needs_onednn
def test_torch_compile_keeps_the_onednn_op(onednn_always):
    ours, plain = twin_layers(32, 64, True)
    x = torch.randn(4, 10, 32)
    torch.testing.assert_close(torch.compile(ours)(x), plain(x), rtol=1e-5, atol=1e-5)


def test_bf16_and_small_products_take_plain_f_linear(monkeypatch):
    monkeypatch.setattr(kernel, "_LINEAR", kernel._ONEDNN_LINEAR)
    ours, plain = twin_layers(16, 16, True)
    x = torch.randn(4, 16)  # 4 x 16 x 16 multiply-adds: under MIN_PRODUCT
    assert torch.equal(ours(x), plain(x))
    ours_bf16, plain_bf16 = ours.to(torch.bfloat16), plain.to(torch.bfloat16)
    assert torch.equal(ours_bf16(x.bfloat16()), plain_bf16(x.bfloat16()))


def test_it_is_an_nn_linear_to_lora_and_to_state_dicts():
    ours, plain = twin_layers(8, 8, True)
    assert list(ours.state_dict()) == list(plain.state_dict())
    model = nn.Sequential(ours)
    add_lora(model, targets=("0",), rank=2, alpha=4)
    assert isinstance(model[0], LoRALinear)


def test_on_by_default_only_on_x86_cpus_that_are_not_intel(monkeypatch):
    monkeypatch.delenv("HEADSTART_ONEDNN_LINEAR", raising=False)
    monkeypatch.setattr(kernel.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(kernel.torch.backends.mkl, "is_available", lambda: True)
    monkeypatch.setattr(kernel, "_cpu_vendor", lambda: "AuthenticAMD")
    assert kernel._wanted()
    monkeypatch.setattr(kernel, "_cpu_vendor", lambda: "GenuineIntel")
    assert not kernel._wanted()
    monkeypatch.setenv("HEADSTART_ONEDNN_LINEAR", "1")
    assert kernel._wanted()
    monkeypatch.setattr(kernel, "_cpu_vendor", lambda: "AuthenticAMD")
    monkeypatch.setenv("HEADSTART_ONEDNN_LINEAR", "0")
    assert not kernel._wanted()
    monkeypatch.delenv("HEADSTART_ONEDNN_LINEAR")
    monkeypatch.setattr(kernel.platform, "machine", lambda: "arm64")
    assert not kernel._wanted()


@needs_onednn
def test_a_second_derivative_through_it_is_refused(onednn_always):
    layer = Linear(8, 8)
    x = torch.randn(4, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(layer(x).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad.sum().backward()


def test_importing_headstart_leaves_the_global_rng_alone():
    code = ("import torch; torch.manual_seed(0); before = torch.get_rng_state(); import headstart.models; "
            "assert torch.equal(torch.get_rng_state(), before), 'import moved the RNG'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_switch_value_warns_and_chooses_by_cpu(monkeypatch):
    monkeypatch.setenv("HEADSTART_ONEDNN_LINEAR", "yes")
    monkeypatch.setattr(kernel, "_cpu_vendor", lambda: "GenuineIntel")
    with pytest.warns(UserWarning, match="HEADSTART_ONEDNN_LINEAR='yes' is neither 0 nor 1"):
        assert not kernel._wanted()


@pytest.mark.parametrize("users_value", [None, "512"])
def test_the_kernel_caches_are_capped_unless_the_user_set_them(users_value):
    env = {name: value for name, value in os.environ.items() if name not in kernel.KERNEL_CACHE_VARIABLES}
    env["HEADSTART_ONEDNN_LINEAR"] = "1"
    if users_value:
        env["LRU_CACHE_CAPACITY"] = users_value
    code = ("import os, headstart.kernels.linear as k; "
            "print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'], os.environ['LRU_CACHE_CAPACITY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["128", users_value or "128"]
