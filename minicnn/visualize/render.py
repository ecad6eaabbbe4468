"""Drawing: image grids, heatmaps, and the usual renderings of signed gradient maps.

Renderings turn a raw map (N, C, H, W) into something an eye can read; each is one
choice of what to throw away, so the figures say which one they use:

    "absmax"    max over channels of |g|, scaled to [0, 1] per image: (N, H, W). Simonyan
                et al. 2014's saliency map; sign and colour are dropped.
    "rgb"       the signed map as an RGB image, grey = 0, scaled per image: (N, H, W, 3).
                How Zeiler & Fergus and Springenberg et al. show their reconstructions.
    "positive"  only the positive part, as RGB on black, scaled per image: (N, H, W, 3).
    "channels"  each colour channel's signed map on its own: (N, C, H, W) in [-1, 1],
                drawn with a diverging colour map (red +, blue -).

Scaling "per image" divides by a high percentile of |g| (99.5 by default) rather than the
maximum, so that one extreme pixel does not leave the rest of the picture grey.
Rendering functions return arrays; plotting functions return matplotlib Figures.
"""
import matplotlib
import numpy as np
from matplotlib.figure import Figure

RENDERINGS = ("absmax", "rgb", "positive", "channels")


def _per_image_scale(a, percentile):
    """(N,) a high percentile of |a| over each image, never 0."""
    flat = np.abs(a).reshape(len(a), -1)
    scale = np.percentile(flat, percentile, axis=1)
    return np.where(scale > 0, scale, np.maximum(flat.max(axis=1), 1e-30))


def render_map(g, how="rgb", percentile=99.5):
    """A signed map (N, C, H, W) rendered for display, as listed in the module docstring."""
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 4:
        raise ValueError(f"render_map: expected a map of shape (N, C, H, W), got {g.shape}")
    if how == "absmax":
        m = np.abs(g).max(axis=1)                                 # (N, H, W)
        return np.clip(m / _per_image_scale(m, percentile)[:, None, None], 0, 1)
    scale = _per_image_scale(g, percentile)[:, None, None, None]  # (N, 1, 1, 1)
    if how == "rgb":
        return np.moveaxis(np.clip(0.5 + 0.5 * g / scale, 0, 1), 1, -1)
    if how == "positive":
        return np.moveaxis(np.clip(g / scale, 0, 1), 1, -1)
    if how == "channels":
        return np.clip(g / scale, -1, 1)
    raise ValueError(f"render_map: unknown rendering {how!r}; choose one of {', '.join(RENDERINGS)}")


def signed_to_rgb(w, scale=None):
    """Weights or gradients (..., C, H, W) -> (..., H, W, C) in [0, 1] with grey = 0:
    0.5 + 0.5 * w / scale, symmetric around 0. scale defaults to max |w|."""
    w = np.asarray(w, dtype=np.float64)
    scale = np.abs(w).max() if scale is None else scale
    return np.moveaxis(np.clip(0.5 + 0.5 * w / max(scale, 1e-30), 0, 1), -3, -1)


def overlay(rgb, heat, cmap="jet", alpha=0.5):
    """Blend a heatmap (H, W) in [0, 1] onto an RGB image (H, W, 3): returns (H, W, 3)."""
    coloured = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return (1 - alpha) * np.asarray(rgb) + alpha * coloured


def signed_panel(m):
    """A signed map (H, W) in [-1, 1], e.g. one channel of render_map(g, "channels"), as a
    panel_grid panel: red where positive, blue where negative, white at 0."""
    return m, {"cmap": "RdBu_r", "vmin": -1, "vmax": 1}


def resize_nearest(image, size):
    """(h, w, ...) -> (size, size, ...) by repeating pixels, so pixels stay visible."""
    h, w = image.shape[:2]
    rows = np.arange(size) * h // size
    cols = np.arange(size) * w // size
    return image[rows][:, cols]


def tile(images, ncols, pad=1, pad_value=1.0):
    """Images of one shape (n, h, w, 3) as one mosaic array with `pad` pixels between them."""
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape[:3]
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad) + images.shape[3:],
                  pad_value, dtype=np.float64)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = image
    return out


def mosaic(images, labels=None, ncols=8, title=None, pixel_inches=0.025, pad=None,
           fontsize=6):
    """Many same-shape pictures (n, h, w, 3) in [0, 1] as one image on one axes, each with
    a small label above it. Much faster to draw than a grid of n axes, for 32-64 panels.

    pixel_inches: the printed size of one picture pixel (the figure grows with the pictures).
    """
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape[:3]
    ncols = min(ncols, n)
    # gaps measured in inches, so that labels fit whatever the pictures' size
    pad = max(1, round(0.07 / pixel_inches)) if pad is None else pad
    top = 0 if labels is None else max(1, round(0.13 / pixel_inches))   # room for a label
    cell_h, cell_w = h + pad + top, w + pad
    nrows = -(-n // ncols)
    canvas = np.ones((nrows * cell_h, ncols * cell_w, 3))
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * cell_h + top:r * cell_h + top + h, c * cell_w:c * cell_w + w] = image
    H, W = canvas.shape[:2]
    fig = Figure(figsize=(max(W * pixel_inches, 3), H * pixel_inches + (0.35 if title else 0)))
    ax = fig.add_axes((0, 0, 1, H * pixel_inches / fig.get_figheight()))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    if labels is not None:
        for i, label in enumerate(labels):
            r, c = divmod(i, ncols)
            ax.text(c * cell_w + w / 2, r * cell_h + top - 1, label, ha="center", va="bottom",
                    fontsize=fontsize)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.1 / fig.get_figheight())
    return fig


def image_grid(images, titles=None, ncols=8, title=None, cmap=None, panel_size=1.1,
               vmin=None, vmax=None, fontsize=7):
    """Plot images (n, H, W, 3) in [0, 1] (or (n, H, W) with `cmap`) in a grid, each
    panel_size inches wide, with room above each for its (possibly multi-line) title."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    label = 0.05 + lines * fontsize * 1.3 / 72        # inches of title text above a panel
    head = 0.4 if title else 0.05
    gap = 0.06                                        # inches between panels
    width = ncols * panel_size + (ncols - 1) * gap + 0.1
    height = nrows * (panel_size + label) + (nrows - 1) * gap + head + 0.05
    fig = Figure(figsize=(width, height))
    # explicit spacing: every row is a title band and a square panel
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=dict(
        left=0.05 / width, right=1 - 0.05 / width, bottom=0.05 / height,
        top=1 - (head + label) / height, wspace=gap / panel_size,
        hspace=(label + gap) / panel_size)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=fontsize, pad=2)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height)
    return fig


def panel_grid(panels, col_titles=None, row_titles=None, title=None, panel_size=1.5,
               fontsize=8):
    """A table of pictures. panels[r][c] is an (H, W, 3) RGB array in [0, 1], an (H, W)
    array in [0, 1] (drawn with "inferno"), or (array, imshow keyword dict), or None."""
    nrows, ncols = len(panels), max(len(row) for row in panels)
    fig = Figure(figsize=(panel_size * ncols + (0.8 if row_titles else 0),
                          panel_size * nrows + (0.5 if title else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r in range(nrows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            panel = panels[r][c] if c < len(panels[r]) else None
            if panel is None:
                ax.set_axis_off()
                continue
            array, options = panel if isinstance(panel, tuple) else (panel, {})
            if np.ndim(array) == 2:
                options = {"cmap": "inferno", "vmin": 0, "vmax": 1, **options}
            ax.imshow(array, interpolation="nearest", **options)
            if col_titles is not None and r == 0 and c < len(col_titles):
                ax.set_title(col_titles[c], fontsize=fontsize)
            if row_titles is not None and c == 0:
                ax.set_ylabel(row_titles[r], fontsize=fontsize)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.4, rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight() if title else 1))
    return fig
