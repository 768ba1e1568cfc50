"""The few figure helpers the notebooks share (matplotlib only).

Each helper draws onto an `ax` you pass (or a new figure) and returns it, so a
notebook can combine them and add its own titles.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch



def show_image(ax, image: torch.Tensor, cmap: str = "gray_r"):
    """One (C, H, W) image with values in [0, 1]: grey for one channel, colour for three."""
    img = image.detach().cpu()
    ax.imshow(img[0] if img.shape[0] == 1 else img.permute(1, 2, 0), cmap=cmap, vmin=0, vmax=1)
    return ax


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 8,
               size: float = 1.3, cmap: str = "gray_r"):
    """Show (N, C, H, W) images with values in [0, 1] (use `Dataset.denormalize`)."""
    n = len(images)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            show_image(ax, images[i], cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def prob_bars(ax, probs: torch.Tensor, classes: Sequence[str], highlight: int | None = None,
              title: str = "", log: bool = False):
    """Horizontal bars of one probability vector; `highlight` marks the true class."""
    p = probs.detach().cpu().numpy()
    colors = ["tab:green" if i == highlight else "tab:blue" for i in range(len(p))]
    ax.barh(range(len(p)), p, color=colors)
    ax.set_yticks(range(len(p)), classes, fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
        ax.set_xlim(max(p.min(), 1e-8) / 2, 1.5)
    else:
        ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=9)
    return ax


def heatmap(ax, matrix, classes: Sequence[str], title: str = "", fmt: str = "{:.2f}", cmap: str = "Blues",
            xlabel: str = "predicted", ylabel: str = "true", annotate: bool = True):
    m = np.asarray(matrix, dtype=float)
    im = ax.imshow(m, cmap=cmap)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if annotate:
        hi = np.nanmax(m) if np.isfinite(m).any() else 1
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] > 0.6 * hi else "black")
    return im


def temperature_explorer(logits: torch.Tensor, images: torch.Tensor, classes: Sequence[str],
                         labels: Sequence[int] | None = None):
    """An ipywidgets explorer: pick an image, move the temperature, watch the soft targets change.

    `logits` (N, K) and `images` (N, C, H, W) in [0, 1]. Returns the widget (display it as a cell's
    last value), or None if ipywidgets is missing. Pages without a live kernel (the rendered site,
    nbval) do not show widgets; give readers a static figure of the same thing next to it.
    """
    try:
        import ipywidgets as widgets
    except ImportError:
        print("ipywidgets is not installed: the static figure shows the same soft targets at fixed temperatures")
        return None
    from .losses import soft_targets

    def draw(image: int, T: float):
        fig, (ax_img, ax_p) = plt.subplots(1, 2, figsize=(7.5, 2.8), gridspec_kw={"width_ratios": [0.5, 1]})
        show_image(ax_img, images[image])
        ax_img.axis("off")
        truth = None if labels is None else int(labels[image])
        ax_img.set_title("" if truth is None else classes[truth], fontsize=9)
        p = soft_targets(logits[image], T)
        prob_bars(ax_p, p, classes, highlight=truth,
                  title=f"T = {T:g}: top class {p.max().item():.1%}, the other nine {1 - p.max().item():.1%}")
        fig.tight_layout()
        plt.show()

    wide = {"description_width": "initial"}  # the whole label ("temperature", not "temperat...")
    return widgets.interactive(
        draw, image=widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image", style=wide),
        T=widgets.FloatLogSlider(value=1.0, base=2, min=-1, max=5, step=0.25, description="temperature T", style=wide))


def curves(ax, records: list[dict], x: str, xs: Sequence, series: dict[str, dict], value: str = "test_accuracy",
           xscale: str | None = "log", **common):
    """One line per named setting in `series` (label -> fields to match), `value` against `x`.

    Each point is the mean over seeds, the band its 95% interval (`distill.stats.mean_interval`,
    the series' one rule), so two bands that do not overlap differ clearly; overlapping bands
    need the paired comparison. `common` fields are matched for every line; a line draws only the
    points of `xs` that have records. Style a line by adding `color`/`ls` to its dict.
    """
    from .experiment import select
    from .stats import mean_interval
    lines = []
    for label, match in series.items():
        match = dict(match)
        style = {k: match.pop(k) for k in ("color", "ls", "marker") if k in match}
        pts = [(xv, [r[value] for r in select(records, **common, **match, **{x: xv})]) for xv in xs]
        pts = [(xv, v) for xv, v in pts if v]
        if not pts:
            continue
        ivals = [mean_interval(v) if len(v) > 1 else (v[0], v[0], v[0]) for _, v in pts]
        px = [p[0] for p in pts]
        (line,) = ax.plot(px, [i[0] for i in ivals], marker=style.pop("marker", "o"), label=label, **style)
        ax.fill_between(px, [i[1] for i in ivals], [i[2] for i in ivals], color=line.get_color(), alpha=0.2)
        lines.append(line)
    if xscale:
        ax.set_xscale(xscale)
    return lines
