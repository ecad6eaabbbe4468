"""From uint8 image arrays to training batches: statistics, normalization, augmentation, batching.

Images stay uint8 (N, 3, 32, 32) in memory (150 MB for the CIFAR-10 training set, a quarter
of float32) and become float32 one batch at a time.

Randomness is derived from (seed, epoch, batch) alone, never from a generator that advances
as training runs, so a run interrupted in the middle of an epoch can resume and see exactly
the batches it would have seen:
- the order of epoch e is np.random.default_rng([seed, e]).permutation(N),
- the augmentation of batch k in epoch e uses np.random.default_rng([seed, e, k]).
"""
import numpy as np

PAD = 4  # augmentation: pixels of zero padding on each side before the random 32x32 crop


def channel_stats(x_uint8):
    """Per-channel mean and standard deviation of images scaled to [0, 1].

    Inputs:
    - x_uint8: (N, C, H, W) uint8, normally the training split (never the test split: its
      statistics must not leak into training)
    Returns: mean, std, each (C,) float32.

    .. math:: \\mu_c = E[x_c / 255], \\quad \\sigma_c = \\sqrt{E[(x_c / 255)^2] - \\mu_c^2}

    Sums of the raw bytes and of their squares are exact in int64, so the only rounding is in
    the final float64 divisions; chunks of 1,000 images keep the temporary copies small.
    """
    _check_images(x_uint8, "channel_stats")
    N, C, H, W = x_uint8.shape
    if N == 0:
        raise ValueError("channel_stats: no images")
    total = np.zeros(C, dtype=np.int64)     # (C,) sum of x
    total_sq = np.zeros(C, dtype=np.int64)  # (C,) sum of x^2
    for start in range(0, N, 1000):
        chunk = x_uint8[start:start + 1000].astype(np.int64)  # (<=1000, C, H, W)
        total += chunk.sum(axis=(0, 2, 3))
        total_sq += (chunk * chunk).sum(axis=(0, 2, 3))
    count = N * H * W
    mean = total / (count * 255.0)                      # (C,) float64
    var = total_sq / (count * 255.0 ** 2) - mean ** 2  # (C,) float64
    return mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32)


def normalize(x_uint8, mean, std):
    """(N, C, H, W) uint8 -> (N, C, H, W) float32 equal to (x / 255 - mean) / std per channel."""
    _check_images(x_uint8, "normalize")
    C = x_uint8.shape[1]
    mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)  # (1, C, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)    # (1, C, 1, 1)
    if mean.shape[1] != C or std.shape[1] != C:
        raise ValueError(f"normalize: images have C={C} channels, but mean has "
                         f"{mean.shape[1]} values and std {std.shape[1]}")
    return (x_uint8.astype(np.float32) / np.float32(255.0) - mean) / std


def augment(x_uint8, rng):
    """Random crop and horizontal flip, the standard CIFAR-10 augmentation (He et al., 2016).

    Each image is zero-padded by PAD=4 pixels on every side, a random 32x32 window is cut out
    of the padded (H+8, W+8) image (9 x 9 = 81 possible offsets), and the result is mirrored
    left-right with probability 1/2.

    Inputs:
    - x_uint8: (N, C, H, W) uint8
    - rng: a np.random.Generator; draws N row offsets, then N column offsets, then N flips
    Returns: (N, C, H, W) uint8, a new array.
    """
    _check_images(x_uint8, "augment")
    return _crop_and_flip(x_uint8, rng)


def _crop_and_flip(x, rng, pad=PAD, flip=None):
    # Kept apart from augment() because batches() has an argument named `augment`.
    # flip: (N,) bool, which images to mirror; None: a coin per image, drawn after the offsets.
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (N, C, H+2pad, W+2pad), zeros
    dy = rng.integers(0, 2 * pad + 1, size=N)  # (N,) top row of each window in xp
    dx = rng.integers(0, 2 * pad + 1, size=N)  # (N,) left column of each window in xp
    if flip is None:
        flip = rng.random(N) < 0.5              # (N,)
    out = np.empty_like(x)                      # (N, C, H, W)
    for n in range(N):                          # each image's window, read right to left if flipped
        window = xp[n, :, dy[n]:dy[n] + H, dx[n]:dx[n] + W]
        out[n] = window[:, :, ::-1] if flip[n] else window
    return out


def alternating_flips(n, seed, epoch):
    """Which of n images to mirror in `epoch` when flips alternate (Jordan, airbench, 2024):
    image i is mirrored in epoch 0 with probability 1/2, then in every other epoch after,
    so over two epochs each image is seen both ways, where random flips repeat a side half
    the time. Returns (n,) bool."""
    first = np.random.default_rng([seed, 2 ** 31]).random(n) < 0.5   # (n,) epoch 0's coins
    return first ^ bool(epoch % 2)


def num_batches(n, batch_size, drop_last=False):
    """How many batches one epoch of n examples has: floor(n / B) with drop_last, else ceil."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(x, y, batch_size, *, shuffle=False, seed=0, epoch=0, start=0, augment=False,
            mean=None, std=None, drop_last=False, translate=PAD, flip="random"):
    """Yield the batches of one epoch as (xb, yb).

    Inputs:
    - x: (N, 3, 32, 32) uint8 images; y: (N,) integer labels
    - batch_size: B; the last batch is smaller unless drop_last
    - shuffle: visit the examples in the order np.random.default_rng([seed, epoch]).permutation(N)
    - seed, epoch: together they fix all randomness of the epoch
    - start: skip the first `start` batches; the batches yielded are then exactly batches
      start, start+1, ... of the same epoch run from the beginning (for resuming)
    - augment: apply random crop + flip to batch k with np.random.default_rng([seed, epoch, k])
    - translate: the crop's zero padding, the largest shift in pixels (4; airbench uses 2)
    - flip: "random" (a coin per image and batch) or "alternating" (alternating_flips)
    - mean, std: (3,) channel statistics; if given xb is normalized, else xb = x / 255
    - drop_last: drop a last batch smaller than batch_size
    Yields: xb (B, 3, 32, 32) float32, yb (B,) int64.
    """
    _check_images(x, "batches")
    N = len(x)
    if len(y) != N:
        raise ValueError(f"batches: {N} images but {len(y)} labels")
    if (mean is None) != (std is None):
        raise ValueError("batches: give both mean and std, or neither")
    total = num_batches(N, batch_size, drop_last=drop_last)
    if not 0 <= start <= total:
        raise ValueError(f"batches: start={start} is outside 0..{total}, the epoch has "
                         f"{total} batches of {batch_size}")
    if flip not in ("random", "alternating"):
        raise ValueError(f"batches: flip must be 'random' or 'alternating', got {flip!r}")
    if translate < 0:
        raise ValueError(f"batches: translate must be >= 0 pixels, got {translate}")
    order = np.random.default_rng([seed, epoch]).permutation(N) if shuffle else np.arange(N)
    flips = alternating_flips(N, seed, epoch) if flip == "alternating" else None  # (N,) bool

    for k in range(start, total):
        idx = order[k * batch_size:(k + 1) * batch_size]  # (B,)
        xb = x[idx]                                        # (B, 3, 32, 32) uint8, a copy
        if augment:
            xb = _crop_and_flip(xb, np.random.default_rng([seed, epoch, k]), translate,
                                None if flips is None else flips[idx])
        if mean is not None:
            xb = normalize(xb, mean, std)                  # (B, 3, 32, 32) float32
        else:
            xb = xb.astype(np.float32) / np.float32(255.0)
        yield xb, np.asarray(y[idx], dtype=np.int64)


def _check_images(x, who):
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
        described = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x)
        raise ValueError(f"{who}: expected (N, C, H, W) uint8 images, got a {described}")
