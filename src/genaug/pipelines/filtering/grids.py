"""Kept-vs-rejected image grid for the CLIP filter (one matplotlib figure per arm)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from genaug.common.bundles import Bundle


def _show(ax, image: torch.Tensor) -> None:
    """Draw one uint8 C×H×W image without axes."""
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image.permute(1, 2, 0).numpy())


def kept_rejected_grid(pool: Bundle, scores: torch.Tensor, keep: torch.Tensor,
                       names: Sequence[str], per_side: int, title: str = "") -> Figure:
    """Rows = classes; left: top-scored kept images, right: lowest-scored rejected images."""
    k = len(names)
    cols = 2 * per_side + 1
    # A bare Figure (no pyplot): no global backend state, nothing left open after saving.
    fig = Figure(figsize=(1.15 * cols + 1.2, 1.3 * k + 0.8))
    axes = fig.subplots(k, cols, squeeze=False)
    for c, name in enumerate(names):
        sel = pool["labels"] == c
        kept_idx = torch.nonzero(sel & keep).flatten()
        rej_idx = torch.nonzero(sel & ~keep).flatten()
        kept_top = kept_idx[torch.sort(-scores[kept_idx], stable=True).indices][:per_side]
        rej_low = rej_idx[torch.sort(scores[rej_idx], stable=True).indices][:per_side]
        for ax in axes[c]:
            ax.axis("off")
        for j, i in enumerate(kept_top.tolist()):
            _show(axes[c][j], pool["images"][i])
            axes[c][j].set_title(f"{float(scores[i]):.3f}", fontsize=7, color="darkgreen")
        for j, i in enumerate(rej_low.tolist()):
            ax = axes[c][per_side + 1 + j]
            _show(ax, pool["images"][i])
            ax.set_title(f"{float(scores[i]):.3f}", fontsize=7, color="firebrick")
        axes[c][per_side].text(0.5, 0.5, f"{name}\nkept {kept_idx.numel()}\n"
                               f"dropped {rej_idx.numel()}", ha="center", va="center",
                               fontsize=7, transform=axes[c][per_side].transAxes)
    axes[0][0].annotate("kept: highest scores", (0, 1.45), xycoords="axes fraction",
                        fontsize=8, color="darkgreen")
    axes[0][per_side + 1].annotate("rejected: lowest scores", (0, 1.45),
                                   xycoords="axes fraction", fontsize=8, color="firebrick")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
