"""Layer dimensions and convolution/pooling geometry, derived as DSSTNE derives them.

DSSTNE names a layer's dimensions ``(Nx, Ny, Nz, Nw)`` (x fastest in memory). Lamina keeps that
tuple as ``dims`` (trimmed to the layer's number of dimensions) and maps it to torch tensors:

* FullyConnected layers: ``(B, N)`` with ``N = prod(dims)`` (the layer's stride).
* Convolutional and Pooling layers (and Input layers of those types): ``(B, C, *spatial)`` with
  ``C = dims[-1]`` and the spatial axes reversed, exactly DSSTNE's cuDNN descriptors:
  ``(Nx, Ny)`` -> ``(B, Ny, Nx)``, ``(Nx, Ny, Nz)`` -> ``(B, Nz, Ny, Nx)`` (NCHW),
  ``(Nx, Ny, Nz, Nw)`` -> ``(B, Nw, Nz, Ny, Nx)``. Row-major flattening of that tensor is DSSTNE's
  unit order, so a FullyConnected layer after a convolution just flattens.

Hidden Convolutional/Pooling dims follow ``CalculateDerivedLayerDimensions`` (NNNetwork.cpp): per
kernel axis ``out = 1 if width <= kernel else width if stride == 1 else (width-kernel)//stride + 1``
with padding ``(kernel - width + 1) // 2`` when ``width < kernel``, ``kernel // 2`` when
``stride == 1``, else 0. A convolution over ``k`` kernel axes reads its input channels from
``dims[k]`` and writes ``N`` channels there (dims become ``k + 1`` long); pooling keeps the source's
dims count. Where cuDNN's output with that padding would be larger than DSSTNE's size (even kernels
at stride 1), the leading outputs are kept (:func:`crop_to`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "AxisGeometry",
    "LayerGeometry",
    "axis_geometry",
    "crop_to",
    "flat_shape",
    "spatial_shape",
]


@dataclass(frozen=True)
class LayerGeometry:
    """The shape of one layer's activations.

    Attributes:
        dims: DSSTNE dims ``(Nx, ...)``, 1-4 ints.
        spatial: True for Convolutional/Pooling layers, whose tensors are ``(B, C, *spatial)``.
    """

    dims: tuple[int, ...]
    spatial: bool

    @property
    def stride(self) -> int:
        """Units per example (DSSTNE's ``_stride``)."""
        return math.prod(self.dims)

    @property
    def tensor_shape(self) -> tuple[int, ...]:
        """Shape of one example's activations, without the batch axis."""
        return spatial_shape(self.dims) if self.spatial else flat_shape(self.dims)


@dataclass(frozen=True)
class AxisGeometry:
    """One kernel axis: DSSTNE's output size, and the torch padding that reproduces it."""

    size: int
    padding: int


def flat_shape(dims: tuple[int, ...]) -> tuple[int, ...]:
    """``(N,)`` with ``N = prod(dims)``."""
    return (math.prod(dims),)


def spatial_shape(dims: tuple[int, ...]) -> tuple[int, ...]:
    """``(C, *reversed(spatial))`` for DSSTNE dims ``(*spatial, C)``; ``(Nx,)`` stays ``(Nx,)``."""
    return (dims[-1], *reversed(dims[:-1]))


def axis_geometry(width: int, kernel: int, stride: int) -> AxisGeometry:
    """DSSTNE's output size and padding along one axis (``CalculateConvolutionDimensions``)."""
    if width <= kernel:
        size = 1
    elif stride == 1:
        size = width
    else:
        size = (width - kernel) // stride + 1
    if width < kernel:
        padding = (kernel - width + 1) // 2
    elif stride == 1:
        padding = kernel // 2
    else:
        padding = 0
    return AxisGeometry(size=size, padding=padding)


def crop_to(x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Keep the leading ``sizes`` entries of the trailing ``len(sizes)`` axes of ``x``.

    Args:
        x: (B, C, *spatial) tensor whose spatial sizes are >= ``sizes``.
        sizes: target spatial sizes, torch order.
    """
    if tuple(x.shape[2:]) == tuple(sizes):
        return x
    index = (slice(None), slice(None), *(slice(0, s) for s in sizes))
    return x[index]
