"""The fast route's choices, in one place: how many threads, how big a tile, when Winograd.

    from minicnn import fast
    fast.settings().workers                        # 2 on a 2-core machine
    with fast.configure(winograd_min_channels=1, winograd_min_pixels=1):  # all 3x3 by Winograd
        ...

None of these changes a result beyond float rounding; they decide only how the work is
done, and the tests use `configure` to drive every path (one image per tile, every op split
between threads, Winograd on three channels) through the public switch. The values hold
per thread and per asyncio task (a contextvars.ContextVar), like the route itself.
"""
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace

import numba


@dataclass(frozen=True)
class Settings:
    # threads that share an op: the calling thread and workers - 1 helpers (fast/parallel.py);
    # one per core, or NUMBA_NUM_THREADS
    workers: int = numba.config.NUMBA_NUM_THREADS
    # 3x3 stride-1 convolutions with this many input channels or more use Winograd's
    # F(2x2, 3x3) (fast/winograd.py); with fewer (the first layer's RGB) there is too little
    # to sum over for its 16 small matrix multiplies to pay for the transforms
    winograd_min_channels: int = 24
    # ... and output maps of this many pixels or more,
    winograd_min_pixels: int = 16
    # ... and this many in the whole batch: a single image of up to 9x9 pixels, two of 7x7,
    # six of 4x4 go by im2col. Their 16 products are too thin to pay for reading the
    # transformed filters (16/9 the filters' size) besides the filters' fingerprint
    # (fast/kept.py), inside a net where neither is still in the cache: with 100 rather than
    # 32, vgg_bn_net's and residual_net's forward of 2 images was 1.10-1.19x as fast, of 1
    # 1.03x, residual_net's of 4-6 1.06-1.08x; layers alone, hot, were about even (0.81-1.18x;
    # benchmarks/README.md, session 21)
    winograd_min_batch_pixels: int = 100
    # ... by F(4x4, 3x3) (4x fewer multiplies than im2col, against F(2x2, 3x3)'s 2.25x) when
    # the output maps are at least this wide: the reference net's 32x32 and 16x16 layers and
    # vgg_bn_net's 31 and 15, side by side (fast/kernels/winograd4.py)
    winograd_4x4_min_width: int = 15
    # ... for a batch of at least this many images: with fewer, its passes along the rows are
    # too short (one 32x32 image has 72 tile slots) and F(2x2, 3x3) is faster (a single
    # image's forward through the reference net: 0.77 against 0.87 ms on Zen 4). From 3
    # rather than 4: with 3 images the reference net's forward was 1.12x as fast, its
    # saliency map 1.11x, its training step 1.04x; vgg_bn_net's and residual_net's forward
    # 1.15x and 1.09x, training 1.04x and 1.07x (with 2: 1.01x, 1.06x and 0.98x;
    # benchmarks/README.md, session 23)
    winograd_4x4_min_images: int = 3
    # Narrower maps, down to this width, take F(4x4, 3x3) only in batches of at least
    # winograd_4x4_narrow_min_images: a map that is one or two tiles wide gives each of its
    # 36 products few columns, and transforming the filters (36 rather than 16 matrices of
    # F x C) is paid once per batch. At vgg_bn_net's 7x7 (256 channels) and residual_net's
    # 8x8 (128 -> 256), forward and backward, F(4x4, 3x3) was 1.02-1.16x as fast as F(2x2,
    # 3x3) at 512 images and 1.00-1.15x at 128, about even at 64, 0.90-0.98x at 16-32 (0.63x
    # at 8); at 5x5 and 4x4 slower even at 512 (0.67x, 0.89x; benchmarks/README.md, session 19)
    winograd_4x4_narrow_min_width: int = 7
    winograd_4x4_narrow_min_images: int = 128
    # Maps of at most this many pixels (vgg_bn_net's 3x3 layer, residual_net's 4x4) go by
    # matrix products that skip the padding's taps (fast/small_maps.py),
    small_maps_max_pixels: int = 16
    # ... in batches of at least this many images, one product per filter tap; fewer go by
    # im2col (3x3) or Winograd (4x4). With 256 channels, forward and backward, the taps were
    # 1.04x and 1.18x as fast at 16 images (3x3, 4x4), 0.86x and 1.2x at 8; with filters
    # that get no gradient, forward alone, 1.54x and 1.11x at 16, 1.33x and 1.24x at 8, a few
    # per cent of a net's forward, not worth a threshold of their own (benchmarks/README.md,
    # session 21)
    small_maps_min_images: int = 16
    # ... and from this many, one product per output pixel: level with the taps at 384 images
    # (1.00x and 0.97x as fast), 1.05x and 1.08x at 512 (the taps' copies outgrow the cache)
    small_maps_by_pixel_min_images: int = 384
    # Winograd transforms a tile's images side by side, as one wide image: always for odd
    # widths (one zero column shared between neighbours saves slots), and, by F(2x2, 3x3),
    # for even widths up to this (longer rows for the transforms; wider maps lose more to
    # the copies)
    side_by_side_max_width: int = 8
    # an im2col convolution whose output maps have fewer pixels than this multiplies the
    # columns of all a tile's images in one product, not one product per image (fast/conv.py)
    wide_columns_below: int = 64
    # a convolution lays out columns (im2col) or transformed tiles (Winograd) for a few
    # images at a time in buffers of at most this many bytes, which stay in the cache
    tile_bytes: int = 4 * 2**20
    # the least work worth handing to another core (a hand-off costs tens of microseconds)
    conv_min_share: int = 2**22        # multiply-adds
    pool_min_share: int = 2**18        # input elements
    relu_min_share: int = 2**19        # elements (2 MB of float32)
    norm_min_share: int = 2**19        # elements (batch norm's passes over memory)
    linear_min_work: int = 2**21       # multiply-adds: a smaller product is done in one go
    # a linear layer's forward and dx take batches of up to this many images one image at a
    # time, by matrix-vector products (fast/linear.py): the reference net's forward of 2 and 3
    # images was 1.11-1.16x and 1.09-1.13x as fast (two runs), mlp's 1.50x and 1.41x; of 4 and
    # 6 images 0.87x (benchmarks/README.md, session 23)
    linear_by_image_max: int = 3
    # a thread waiting for news polls this many times (each a sched_yield) before sleeping
    polls: int = 1000


_settings = ContextVar("minicnn_fast_settings", default=Settings())

# settings() -> the Settings in force here. The ContextVar's own get: every fast op reads it,
# and a Python function around it would cost a call more each time.
settings = _settings.get


@contextmanager
def configure(**changes):
    """Change some settings inside the block; the previous ones come back afterwards.

    Every value is an integer >= 1 (polls >= 0)."""
    names = {f.name for f in fields(Settings)}
    for name, value in changes.items():
        if name not in names:
            raise TypeError(f"fast.configure: unknown setting {name!r}; "
                            f"settings are: {', '.join(sorted(names))}")
        least = 0 if name == "polls" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"fast.configure: {name} must be an integer >= {least}, got {value!r}")
    token = _settings.set(replace(settings(), **changes))
    try:
        yield settings()
    finally:
        _settings.reset(token)
