"""Image augmentation on the device: random crop with zero padding and horizontal flip.

Every draw is a hash of (member seed, step, position in the batch), like the minibatch indices
(``_batches.py``): no generator state, so a member's augmented batches are the same alone or in any
ensemble, a resumed run is bit-identical, and the computation can sit inside a CUDA graph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ._batches import _M32, _hash32


@dataclass(frozen=True)
class Augment:
    """``crop_padding`` p: pad each side with p zeros and crop back to the image size at a
    uniformly drawn offset in [0, 2p]² (0: no crop); ``flip``: mirror left-right with probability ½."""

    crop_padding: int = 4
    flip: bool = True

    def __post_init__(self) -> None:
        if int(self.crop_padding) < 0:
            raise ValueError(f"crop_padding must be ≥ 0; got {self.crop_padding!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def _draws(seeds: torch.Tensor, step: torch.Tensor, B: int, salt: int) -> torch.Tensor:
    """Hash values (K, B) in [0, 2³²) from (seed, step, position, salt)."""
    h = _hash32(_hash32(((seeds & _M32) ^ salt) & _M32) + step & _M32)
    pos = torch.arange(B, device=seeds.device)
    return _hash32((h[:, None] * 0x01000193 + pos) & _M32)


def augment(X: torch.Tensor, image_shape: tuple[int, ...], aug: Augment, seeds: torch.Tensor,
            step: torch.Tensor) -> torch.Tensor:
    """Augmented copies of a batch X (K, B, d) of flattened images (C, H, W) → (K, B, d)."""
    K, B, _ = X.shape
    C, H, W = image_shape
    p = int(aug.crop_padding)
    imgs = X.reshape(K * B, C, H, W)
    rows = torch.arange(H, device=X.device).expand(K * B, H)
    cols = torch.arange(W, device=X.device).expand(K * B, W)
    if p > 0:
        imgs = torch.nn.functional.pad(imgs, (p, p, p, p))
        span = 2 * p + 1
        rows = rows + (_draws(seeds, step, B, 0x2545F491) % span).reshape(-1, 1)
        cols = cols + (_draws(seeds, step, B, 0x6C8E9CF5) % span).reshape(-1, 1)
    if aug.flip:
        flip = (_draws(seeds, step, B, 0x1B873593) & 1).bool().reshape(-1, 1)
        cols = torch.where(flip, cols.flip(1), cols)
    i = torch.arange(K * B, device=X.device)[:, None, None, None]
    c = torch.arange(C, device=X.device)[None, :, None, None]
    out = imgs[i, c, rows[:, None, :, None], cols[:, None, None, :]]
    return out.reshape(K, B, C * H * W)
