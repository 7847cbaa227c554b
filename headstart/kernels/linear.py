"""``Linear``: ``nn.Linear`` whose large fp32 CPU matrix multiplies go through oneDNN instead of MKL.

Why our own: PyTorch's CPU ``aten::mm`` calls MKL's sgemm, and MKL takes its AVX-512 kernels only on
Intel processors. On an AMD EPYC with AVX-512 (these development machines) it runs at 160–190 GFLOP/s,
while oneDNN, which ships inside the same PyTorch and picks kernels from the CPU's features, reaches
about 410 GFLOP/s on the same shapes (``bench/linear_kernels.py``). PyTorch sends fp32 matmuls to
oneDNN only when the user lowers their precision (``torch.backends.mkldnn.matmul.fp32_precision``);
this path keeps full fp32 (errors of about 1e-6 relative, the order of MKL's) and takes oneDNN's speed.

When it is used: fp32 on a CPU, products of at least ``MIN_PRODUCT`` multiply-adds (below that the op's
call overhead, about 20 µs, outweighs the gain), and by default only on x86 CPUs that are not Intel's,
where MKL leaves the speed unused. ``HEADSTART_ONEDNN_LINEAR=1`` turns it on anywhere oneDNN is built
in (to measure it on an Intel CPU), ``=0`` turns it off. Everything else — CUDA, bf16/fp16, autocast —
takes the plain ``F.linear``, so behaviour there is unchanged.

The forward and both backward products go through ``torch.ops.mkldnn._linear_pointwise``, the op
``torch.compile`` itself uses for CPU linear fusions. oneDNN builds a kernel for each new shape (1–3 ms
for a layer's three products) and caches it, so batches padded to a different length each step still
gained (``bench/linear_kernels.py --models``).
"""

import os
import platform
import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

MIN_PRODUCT = 2**23  # rows x in x out; (512 x 128 x 128) broke even in bench/linear_kernels.py

# oneDNN keeps each kernel it builds, about 0.7 MB of code, in two caches (its own and PyTorch's ideep
# wrapper's) of 1,024 entries each. Batches of a new length every step (padded fine-tuning batches)
# grew RSS by 2 MB per new length, to +2.6 GB after 600 lengths; 128 entries bound that to about
# 100 MB and still hold every kernel of a fixed-shape run (a transformer needs about 20).
KERNEL_CACHE_CAPACITY = 128
KERNEL_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")


def _cpu_vendor() -> str:
    """The x86 vendor string ("GenuineIntel", "AuthenticAMD", ...), or "" when it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() if platform.system() == "Windows" else ""


def _wanted() -> bool:
    choice = os.environ.get("HEADSTART_ONEDNN_LINEAR", "")
    if choice in ("0", "1"):
        return choice == "1"
    if choice:
        warnings.warn(f"HEADSTART_ONEDNN_LINEAR={choice!r} is neither 0 nor 1; choosing by the CPU instead",
                      stacklevel=2)
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    vendor = _cpu_vendor()
    return x86 and torch.backends.mkl.is_available() and bool(vendor) and "Intel" not in vendor


def _usable_onednn_linear():
    """oneDNN's linear op, wrapped as a custom op so ``torch.compile`` keeps it as one call and fuses
    what is around it; None when this PyTorch lacks the op or it does not compute ``x @ w.T``."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        op = torch.ops.mkldnn._linear_pointwise
        g = torch.Generator().manual_seed(0)  # never the global RNG: importing must not shift a seeded run
        a, w = torch.randn(4, 8, generator=g), torch.randn(3, 8, generator=g)  # another signature fails here
        if not torch.allclose(op(a, w, None, "none", [], ""), a @ w.t(), atol=1e-5):
            return None

        @torch.library.custom_op("headstart::onednn_linear", mutates_args=())
        def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
            """``x @ weight.T + bias`` for 2-D ``x``."""
            return op(x, weight, bias, "none", [], "")

        @onednn_linear.register_fake
        def _(x, weight, bias):
            return x.new_empty(x.shape[0], weight.shape[0])
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return None
    return onednn_linear


def _bound_kernel_caches() -> None:
    """Cap oneDNN's kernel caches unless the user set them. oneDNN reads these variables when it builds
    its first kernel in the process, so this runs before the probe below (which builds one)."""
    for name in KERNEL_CACHE_VARIABLES:
        os.environ.setdefault(name, str(KERNEL_CACHE_CAPACITY))


_WANTED = _wanted()  # read once: the CPU and the switch do not change, and a bad value warns once
if _WANTED:
    _bound_kernel_caches()
_ONEDNN_LINEAR = _usable_onednn_linear()
_LINEAR = _ONEDNN_LINEAR if _WANTED else None  # what ``linear`` uses: None means plain F.linear


def onednn_linear_available() -> bool:
    """Whether large fp32 CPU linears take the oneDNN path in this process."""
    return _LINEAR is not None


def _dense(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself when it is row- or column-major, else a contiguous copy: oneDNN falls back to its
    reference kernel (measured 2,000x slower) on other strides, such as the zero strides of the
    expanded gradient that ``y.sum().backward()`` sends."""
    return t if t.is_contiguous() or t.t().is_contiguous() else t.contiguous()


def _mm(a: torch.Tensor, b_t: torch.Tensor) -> torch.Tensor:
    """``a @ b_t.T``; either may be a transposed view, which oneDNN reads without a copy."""
    return _LINEAR(_dense(a), _dense(b_t), None)


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        x2 = _dense(x.reshape(-1, x.shape[-1]))
        return _LINEAR(x2, _dense(weight), bias).view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @once_differentiable  # a second derivative through this path raises instead of being silently wrong
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        out_features, in_features = weight.shape
        g2 = grad.reshape(-1, out_features)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _mm(g2, weight.t()).view(x.shape)
        if ctx.needs_input_grad[1]:
            x2 = x.reshape(-1, in_features)
            # The op copies a transposed first operand to row-major; make that the smaller of the
            # two (rows x min(in, out)), computing the gradient transposed for a wide weight. That
            # order was 1.3-2.4x faster than the other on the GPT bench's non-square shapes (one-off timing).
            gw = _mm(g2.t(), x2.t()) if out_features <= in_features else _mm(x2.t(), g2.t()).t()
        if ctx.needs_input_grad[2]:  # False when there is no bias
            gb = g2.sum(0)
        return gx, gw, gb


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear``, through oneDNN for large fp32 products on CPU (see the module docstring)."""
    if (_LINEAR is None or x.device.type != "cpu" or x.dtype != torch.float32
            or weight.dtype != torch.float32 or x.numel() * weight.shape[0] < MIN_PRODUCT
            or torch.is_autocast_enabled("cpu")):
        return F.linear(x, weight, bias)
    return _OneDNNLinear.apply(x, weight, bias)


class Linear(nn.Linear):
    """A drop-in ``nn.Linear`` (same parameters, same state dict) with the faster CPU path."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
