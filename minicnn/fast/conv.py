"""The fast twin of minicnn/ops/conv.py: the same im2col convolution, in small tiles, per core.

    out[n] = w @ cols[n]                     dw = sum_n dout[n] @ cols[n].T
    dcols[n] = w.T @ dout[n]                 dx[n] = col2im(dcols[n])

with w as (F, C*KH*KW), cols[n] (C*KH*KW, OH*OW) and dout[n] as (F, OH*OW).

The columns of a whole batch are 9x the size of its input for a 3x3 kernel (151 MB for
the reference net's conv2 at batch 128), so they are never made at once: a few images at
a time are laid out by a compiled kernel (fast/kernels/im2col.py) in one small reused
buffer, which stays in the cache for the matrix multiply that reads it. Backward lays
them out again rather than keeping them (cheap, and it keeps memory small). Each core
works on its own share of the batch; a single image's large layers are shared out by
channels instead, out[f0:f1] = w[f0:f1] @ cols on one core and the rest on the other
(and dx by input channels; fast/parallel.py for_each_part).

3x3 filters at stride 1 (most of the reference net) take a faster road to the same
result: Winograd's F(2x2, 3x3), in fast/winograd.py, with 2.25x fewer multiplies, or on
maps at least 15 wide (and batches of 3 or more; 7 wide in batches of 128 or more) its
F(4x4, 3x3), with 4x fewer (winograd.choose_form). Other shapes, and inputs with fewer than
settings().winograd_min_channels channels (such as the first layer's RGB), use im2col:
with so few channels to sum over, Winograd's 16 small matrix multiplies cost more than
they save. Maps of up to 4x4 (small_maps_max_pixels) go by matrix products that skip the
padding (small_maps.py): one per filter tap in batches of 16 to 383 images
(small_maps_min_images), one per output pixel in larger ones (small_maps_by_pixel_min_images);
smaller batches by im2col (maps under 4x4, winograd_min_pixels) or Winograd (4x4). Batches
of under 100 output pixels in all (winograd_min_batch_pixels: a single image of up to 9x9,
two of 7x7, six of 4x4) go by im2col too, since reading the transformed filters, 16/9 the
size of the filters, costs more than the products save.
With maps under 8x8 pixels (wide_columns_below), im2col multiplies the columns of all a
tile's images at once (widen). Both roads are checked against the plain route.
"""
import numpy as np

from minicnn.fast import small_maps, winograd
from minicnn.fast.kernels.im2col import col2im, im2col
from minicnn.fast.parallel import for_each_part, one_blas_thread, product_work, tiles
from minicnn.fast.settings import settings
from minicnn.ops.checks import conv_output_size


def uses_winograd(N, C, KH, KW, stride, out_pixels):
    """Whether a convolution of N images of C channels with KH x KW filters at `stride`,
    making maps of out_pixels = OH*OW pixels, takes the Winograd road (with the settings in
    force)."""
    s = settings()
    return ((KH, KW, stride) == (3, 3, 1) and C >= s.winograd_min_channels
            and out_pixels >= s.winograd_min_pixels
            and N * out_pixels >= s.winograd_min_batch_pixels)


def small_maps_road(N, C, stride, out_pixels):
    """Which of small_maps.py's roads a convolution of N images of C channels at `stride`,
    making maps of out_pixels pixels, takes: "taps" (a product per filter tap), "pixels" (per
    output pixel) or None (neither). For maps of at most settings().small_maps_max_pixels,
    filters of any size at stride 1, as many channels as Winograd needs: per tap from
    small_maps_min_images images, per pixel from small_maps_by_pixel_min_images."""
    s = settings()
    if (stride != 1 or out_pixels > s.small_maps_max_pixels or C < s.winograd_min_channels
            or N < s.small_maps_min_images):
        return None
    return "pixels" if N >= s.small_maps_by_pixel_min_images else "taps"


def conv2d_forward(ctx, x, w, b, stride, padding):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, OH, OW)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    x = np.ascontiguousarray(x)
    ctx.stride, ctx.padding, ctx.OH, ctx.OW, ctx.w, ctx.x_hw = stride, padding, OH, OW, w, (H, W)
    frozen = not ctx.needs_input_grad[1]                  # the filters get no gradient
    ctx.x = None if frozen else x                         # only dw needs the input again
    ctx.small_maps = small_maps_road(N, C, stride, OH * OW)
    ctx.winograd = ctx.small_maps is None and uses_winograd(N, C, KH, KW, stride, OH * OW)
    ctx.form = winograd.choose_form(N, OW) if ctx.winograd else None
    with one_blas_thread():
        if ctx.winograd:
            # weights that get no gradient (inference, explanations) keep their transform
            U = winograd.kept_transform(w, ctx.form) if frozen else None
            out, ctx.U = winograd.forward(x, w, b, padding, ctx.form, U)
            return out                                  # (N, F, OH, OW)
        if ctx.small_maps == "taps":                   # the filters per tap, kept if frozen
            ctx.taps = small_maps.kept_taps(w) if frozen else small_maps.taps_of(w)
            return small_maps.forward_by_taps(x, ctx.taps, b, padding)
        if ctx.small_maps == "pixels":
            return small_maps.forward_by_pixels(x, w, b, padding)

        ctx.work = product_work(N * F * C * KH * KW * OH * OW, w.size)   # im2col's products
        w_rows = w.reshape(F, -1)                        # (F, C*KH*KW)
        out = np.empty((N, F, OH * OW), dtype=w.dtype)
        wide = OH * OW < settings().wide_columns_below

        def forward_part(n0, n1, f0, f1):                # images n0:n1, filters f0:f1
            cols = column_buffer(n1 - n0, w, OH, OW)     # (T, C*KH*KW, OH*OW)
            for t0, t1 in tiles(n0, n1, len(cols)):
                im2col(x[t0:t1], KH, KW, stride, padding, OH, OW, cols[:t1 - t0])
                if wide:                                 # one product for the tile's images
                    out[t0:t1, f0:f1] = unwiden(w_rows[f0:f1] @ widen(cols[:t1 - t0]), t1 - t0)
                else:                                    # (T, F', OH*OW)
                    np.matmul(w_rows[f0:f1], cols[:t1 - t0], out=out[t0:t1, f0:f1])
                if b is not None:
                    out[t0:t1, f0:f1] += b[f0:f1, None]  # (F', 1): one per row of out
        for_each_part(N, F, forward_part, ctx.work)
    return out.reshape(N, F, OH, OW)


def conv2d_backward(ctx, dout):
    """dout (N, F, OH, OW) -> dx (N, C, H, W), dw (F, C, KH, KW), db (F,); None for those
    nobody asked for."""
    F, C, KH, KW = ctx.w.shape
    N = dout.shape[0]
    s, p, OH, OW = ctx.stride, ctx.padding, ctx.OH, ctx.OW
    dout = np.ascontiguousarray(dout)
    need_dx, need_dw, need_db = ctx.needs_input_grad
    with one_blas_thread():
        if ctx.winograd:
            return winograd.backward(ctx.x, ctx.U, dout, p, need_dx, need_dw, need_db, ctx.form)
        if ctx.small_maps == "taps":
            return small_maps.backward_by_taps(ctx.x, ctx.taps, dout, p, need_dx, need_dw, need_db)
        if ctx.small_maps == "pixels":
            return small_maps.backward_by_pixels(ctx.x, ctx.w, dout, p, need_dx, need_dw, need_db)
        dout = dout.reshape(N, F, OH * OW)
        w_rows = ctx.w.reshape(F, -1)                    # (F, C*KH*KW)
        wide = OH * OW < settings().wide_columns_below
        dx = np.empty((N, C) + ctx.x_hw, dtype=ctx.w.dtype) if need_dx else None

        def backward_part(n0, n1, c0, c1):               # images n0:n1, dx's channels c0:c1
            # (F, C*KH*KW), summed over n0:n1; only when dw is asked for (saliency needs dx alone)
            dw = np.zeros_like(w_rows) if need_dw else None
            db = np.zeros(F, dtype=ctx.w.dtype)
            cols = column_buffer(n1 - n0, ctx.w, OH, OW)     # (T, C*KH*KW, OH*OW)
            for t0, t1 in tiles(n0, n1, len(cols)):
                tile = cols[:t1 - t0]
                d = widen(dout[t0:t1]) if wide else None  # (F, T*OH*OW)
                if need_dw:                              # dw += sum_n dout[n] @ cols[n].T
                    im2col(ctx.x[t0:t1], KH, KW, s, p, OH, OW, tile)
                    if wide:
                        dw += d @ widen(tile).T
                    else:
                        dw += np.matmul(dout[t0:t1], tile.transpose(0, 2, 1)).sum(axis=0)
                if need_db:
                    db += dout[t0:t1].sum(axis=(0, 2))
                if need_dx:                              # dx[n] = col2im(w.T @ dout[n])
                    rows = slice(c0 * KH * KW, c1 * KH * KW)     # channels c0:c1's rows of w
                    dcols = tile[:, rows]                # the buffer holds dcols
                    if wide:
                        dcols[...] = unwiden(w_rows[:, rows].T @ d, t1 - t0)
                    else:
                        np.matmul(w_rows[:, rows].T, dout[t0:t1], out=dcols)
                    col2im(dcols, KH, KW, s, p, OH, OW, dx[t0:t1, c0:c1])   # (T, C', H, W)
            return dw, db

        # dx alone (explanations) shares a single image by its channels; dw and db sum over images
        shares = for_each_part(N, C, backward_part, ctx.work, by_channels=not (need_dw or need_db))
    dw = sum(dw for dw, _ in shares).reshape(ctx.w.shape) if need_dw else None
    db = sum(db for _, db in shares) if need_db else None
    return dx, dw, db


def widen(a):
    """(T, R, P) -> (R, T*P): the T images' columns side by side, for one product over them
    all (a copy). With small maps (P = OH*OW of 9 or 49), T products of P columns each run
    far below what the BLAS reaches on one of T*P columns."""
    T, R, P = a.shape
    return a.transpose(1, 0, 2).reshape(R, T * P)


def unwiden(a, T):
    """(R, T*P) -> (T, R, P), widen's inverse (a view)."""
    R = a.shape[0]
    return a.reshape(R, T, -1).transpose(1, 0, 2)


def column_buffer(n, w, OH, OW):
    """An empty (T, C*KH*KW, OH*OW) buffer for the columns of T of n images at a time: as
    many as fit in settings().tile_bytes, at least one."""
    _, C, KH, KW = w.shape
    one_image = C * KH * KW * OH * OW * w.dtype.itemsize
    T = max(1, min(n, settings().tile_bytes // one_image))
    return np.empty((T, C * KH * KW, OH * OW), dtype=w.dtype)
