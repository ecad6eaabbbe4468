r"""3x3, stride-1 convolution by Winograd's F(2x2, 3x3) or F(4x4, 3x3) (Lavin & Gray 2016).

The same convolution as ops/conv.py's im2col, computed with 2.25x
fewer multiplies. Each 2x2 block of outputs comes from a 4x4 tile d of the
padded input (kernels/winograd.py has the derivation):

    U[k] = (G g G^T)[k]     the filters, transformed        (16, F, C)
    V[k] = (B^T d B)[k]     every tile of the input          (16, C, Q)
    M[k] = U[k] @ V[k]      16 matrix multiplies             (16, F, Q)
    out  = A^T m A          each tile's 2x2 block of outputs, plus the bias

for the 16 positions k of a 4x4 tile and Q tile slots per image (each row of
tiles has one spare slot, whose values are never used: kernels/winograd.py
says why). Every step is linear, so the backward is each step's adjoint
(transpose), taken in reverse order:

    dM = A dout A^T        dU[k] = dM[k] @ V[k].T      dw = G^T dU G
                           dV[k] = U[k].T @ dM[k]      dx = B dV B^T, added up over the tiles

which is exactly the gradient of the forward above, not an approximation.
As with im2col, a few images at a time are transformed into small reused
buffers, and each core works on its own share of the batch (a single image: its
own share of the filters, M[k][f0:f1] = U[k][f0:f1] @ V[k], both cores transforming
the image; for dx alone, of the input channels). The backward
transforms the input again for dw rather than keeping every tile's V from
the forward: V is over 4x the input's size (71 MB for the reference net's
conv2 at batch 128), and writing it out to memory and reading it back cost
more than the transform (a training step was 4% faster without it, on a
Sapphire Rapids core).

Maps of odd width with padding 1 (vgg_bn_net's 31, 15 and 7) are transformed with a
tile's images side by side, one zero column between neighbours, as one wide image
(side_by_side). That zero column is the
right padding of one image and the left of the next, and an odd width makes each image
an even number of columns: its tiles end where the next image's begin. The spare slot is
then one per row of the wide image, not one per image's row: four 7x7 images take 4 rows
of 17 slots instead of 4 x 4 rows of 5 (68 against 80), four 15x15 images 8 rows of 33
instead of 4 x 8 rows of 9 (264 against 288). Small maps of even width (residual_net's
8x8 and 4x4) go side by side too, with two zero columns between neighbours: no slots are
saved, but the transforms run along rows T times longer. For a 256 -> 256 convolution at
4x4, batch 512, forward and backward, that took 225 ms down to 186 ms on a Zen 4 core
pair; at 16x16 and 32x32 the copies cost more than the longer rows gain
(side_by_side_gap).

Float32 rounding differs a little from im2col's (the transforms add and
subtract before multiplying), by about 1e-6 relative: well below what
training or the pictures can notice.

The larger F(4x4, 3x3) (kernels/winograd4.py) makes each 4x4 block of outputs
from a 6x6 tile, with 4x fewer multiplies than im2col: 36 matrix multiplies instead
of 16, each with a quarter of the columns. Its transforms need constants up to 8 and
1/24, so float32 errors grow several times (still about 1e-6 of the largest output).
It is used for batches of 3 images or more whose maps are at least 15 wide (choose_form):
the reference net's conv2-conv4, whose training step it made 1.24x faster on a Zen 4
core pair (99.6 against 123.3 ms at batch 128, in one process; benchmarks/README.md), and
vgg_bn_net's 31 and 15 wide maps, side by side as above (W + 1 is a multiple of 4 there, so
F(4x4, 3x3)'s tiles, too, end where the next image begins; on other odd widths a tile
straddles two images, which is still exact, only less saving). That made vgg_bn_net's
training step 1.11x faster (1,688 against 1,866 ms at batch 512, one process, Zen 4).
Narrower maps (vgg_bn_net's 7x7, residual_net's 8x8) take F(4x4, 3x3) only in batches of
128 or more (1.0-1.16x there; in small batches its 36 thin products and the filters'
transform, paid once per batch, made it up to a third slower); under 7 wide never.
A Form names one algorithm and its kernels; forward and backward are the same steps
for both, with k = 16 or 36 matrix multiplies.
"""
from typing import Callable, NamedTuple

import numpy as np

from minicnn.fast.kept import kept
from minicnn.fast.kernels import winograd as f2, winograd4 as f4
from minicnn.fast.kernels.naive import G, G4
from minicnn.fast.parallel import for_each_part, product_work, tiles
from minicnn.fast.settings import settings


class Form(NamedTuple):
    """One of Winograd's algorithms F(m x m, 3x3): m x m outputs from each (m+2) x (m+2) tile,
    by k = (m+2)^2 matrix multiplies, and the kernels that transform its tiles."""
    m: int
    G_kron_G: np.ndarray        # (k, 9): (G g G^T).ravel() = G_kron_G @ g.ravel() for a 3x3 g
    tile_grid: Callable         # (OH, OW) -> (TH, K): rows of tiles, slots per row
    input: Callable             # x -> V, and its adjoint
    input_adjoint: Callable
    output: Callable            # M -> out, and its adjoint
    output_adjoint: Callable

    @property
    def k(self):
        """Positions in a tile: the number of matrix multiplies (16 or 36)."""
        return (self.m + 2) ** 2


F2 = Form(2, np.kron(G, G), f2.tile_grid, f2.winograd_input, f2.winograd_input_adjoint,
          f2.winograd_output, f2.winograd_output_adjoint)
F4 = Form(4, np.kron(G4, G4), f4.tile_grid4, f4.winograd4_input, f4.winograd4_input_adjoint,
          f4.winograd4_output, f4.winograd4_output_adjoint)


def choose_form(N, OW):
    """F(4x4, 3x3) for a batch of N images whose output maps are OW wide: from
    winograd_4x4_min_images images for maps at least winograd_4x4_min_width wide, from
    winograd_4x4_narrow_min_images for narrower ones down to winograd_4x4_narrow_min_width
    (fast/settings.py); else F(2x2, 3x3)."""
    s = settings()
    if OW >= s.winograd_4x4_min_width and N >= s.winograd_4x4_min_images:
        return F4
    if OW >= s.winograd_4x4_narrow_min_width and N >= s.winograd_4x4_narrow_min_images:
        return F4
    return F2


def transform_filters(w, form=F2):
    """w (F, C, 3, 3) -> U (k, F, C): G g G^T for every filter g, one (F, C) matrix per
    position of a tile (k = 16 for F(2x2, 3x3), 36 for F(4x4, 3x3))."""
    F, C = w.shape[:2]
    U = form.G_kron_G.astype(w.dtype) @ w.reshape(F * C, 9).T   # (k, F*C)
    return U.reshape(form.k, F, C)


def kept_transform(w, form=F2):
    """transform_filters(w, form), kept while the array w lives and its values stay the same
    (fast/kept.py): for weights that get no gradient (inference, explanations). Read-only."""
    return kept(w, ("winograd", form.m), lambda w: transform_filters(w, form))


def transform_filters_adjoint(dU, form=F2):
    """dU (k, F, C) -> dw (F, C, 3, 3): G^T du G for every du, the adjoint of transform_filters."""
    _, F, C = dU.shape
    dw = form.G_kron_G.T.astype(dU.dtype) @ dU.reshape(form.k, F * C)   # (9, F*C)
    return dw.T.reshape(F, C, 3, 3)


def buffers(n, C, F, Q, dtype, form=F2):
    """Empty flat buffers for V (k, C, T*Q) and M (k, F, T*Q), for T of n images at
    a time: as many as fit in settings().tile_bytes, at least one."""
    one_image = form.k * (C + F) * Q * np.dtype(dtype).itemsize
    T = max(1, min(n, settings().tile_bytes // one_image))
    return np.empty(T * form.k * C * Q, dtype), np.empty(T * form.k * F * Q, dtype)


def side_by_side_gap(W, padding, form=F2):
    """How many zero columns go between neighbouring images side by side (0: not side by
    side). With padding 1 the zeros between two images pad both: one shared column when W is
    odd, since each image is then an even number of columns and, for vgg_bn_net's widths
    (31, 15, 7, 3: W + 1 a multiple of 4), its tiles end where the next image's begin for
    both forms. With F(2x2, 3x3), images of even width go side by side too, with two columns
    (each image's own padding): no tile slots are saved (the two columns make one junk tile
    where an image's spare slot was), only longer rows for the transforms, worth it for maps
    of at most `side_by_side_max_width`; F(4x4, 3x3)'s even widths stay apart."""
    if padding != 1:
        return 0
    if W % 2:
        return 1
    return 2 if form is F2 and W <= settings().side_by_side_max_width else 0


def side_by_side(images, gap=1):
    """(T, C, H, W) -> (1, C, H, T*(W+gap) - gap): the images in one row, `gap` zero columns
    between neighbours. A 3x3 convolution with padding 1 of the wide image is, at each image's
    columns, that image's own convolution (its neighbours' pixels are two columns away)."""
    T, C, H, W = images.shape
    wide = np.zeros((1, C, H, T * (W + gap) - gap), dtype=images.dtype)
    for j in range(T):
        wide[0, :, :, j * (W + gap):j * (W + gap) + W] = images[j]
    return wide


def apart(wide, images, gap=1):
    """side_by_side's inverse: the T images' columns of wide (1, C, H, T*(W+gap) - gap) into
    images (T, C, H, W); the columns between them are dropped."""
    T, _, _, W = images.shape
    for j in range(T):
        images[j] = wide[0, :, :, j * (W + gap):j * (W + gap) + W]
    return images


def tile_slots(OH, OW, form=F2):
    """The tile slots of one OH x OW output map: TH rows of K (kernels/winograd.py tile_grid)."""
    TH, K = form.tile_grid(OH, OW)
    return TH * K


def leading(buffer, rows, columns, form=F2):
    """The start of a flat buffer as a contiguous (k, rows, columns) array."""
    return buffer[:form.k * rows * columns].reshape(form.k, rows, columns)


def forward(x, w, bias, padding, form=F2, U=None):
    """
    Inputs:
    - x: (N, C, H, W) images, w: (F, C, 3, 3) filters, both of one float dtype
    - bias: (F,) or None; padding: an integer
    - form: F2 or F4, Winograd's F(2x2, 3x3) or F(4x4, 3x3)
    - U: w's transformed filters if already at hand (kept_transform), else None
    Returns out: (N, F, OH, OW) with OH = H + 2*padding - 2 (stride 1), and U (k, F, C)
    the transformed filters (the backward uses them again)
    """
    N, C, H, W = x.shape
    F = w.shape[0]
    OH, OW = H + 2 * padding - 2, W + 2 * padding - 2
    Q = tile_slots(OH, OW, form)                              # tile slots per image
    U = transform_filters(w, form) if U is None else U       # (k, F, C)
    bias = np.zeros(F, dtype=w.dtype) if bias is None else bias
    out = np.empty((N, F, OH, OW), dtype=w.dtype)
    gap = side_by_side_gap(W, padding, form)

    def forward_part(n0, n1, f0, f1):                         # images n0:n1, filters f0:f1
        V_buffer, M_buffer = buffers(n1 - n0, C, f1 - f0, Q, w.dtype, form)
        for t0, t1 in tiles(n0, n1, len(V_buffer) // (form.k * C * Q)):
            # (T, C, H, W), or side by side (1, C, H, W') with W' = T*(W+gap) - gap
            images = side_by_side(x[t0:t1], gap) if gap else x[t0:t1]
            out_width = images.shape[3] + 2 * padding - 2
            slots = len(images) * tile_slots(OH, out_width, form)   # at most T*Q
            V = leading(V_buffer, C, slots, form)             # (k, C, slots)
            M = leading(M_buffer, f1 - f0, slots, form)       # (k, f1-f0, slots)
            form.input(images, padding, V)
            np.matmul(U[:, f0:f1], V, out=M)
            if gap:                                           # (1, F', OH, W') -> (T, F', OH, OW)
                wide = np.empty((1, f1 - f0, OH, out_width), dtype=w.dtype)
                apart(form.output(M, bias[f0:f1], wide), out[t0:t1, f0:f1], gap)
            else:
                form.output(M, bias[f0:f1], out[t0:t1, f0:f1])   # (T, F', OH, OW)
    for_each_part(N, F, forward_part, product_work(N * Q * form.k * F * C, U.size))
    return out, U


def backward(x, U, dout, padding, need_dx, need_dw, need_db, form=F2):
    """
    Inputs:
    - x, U: the forward's input (needed for dw only) and transformed filters
    - dout: (N, F, OH, OW) contiguous, in U's dtype; padding, form: as in forward
    Returns dx (N, C, H, W), dw (F, C, 3, 3), db (F,); None for those not needed
    """
    N, F, OH, OW = dout.shape
    C, H, W = U.shape[2], OH - 2 * padding + 2, OW - 2 * padding + 2
    Q = tile_slots(OH, OW, form)
    dx = np.empty((N, C, H, W), dtype=U.dtype) if need_dx else None
    gap = side_by_side_gap(W, padding, form)

    def backward_part(n0, n1, c0, c1):                        # images n0:n1, dx's channels c0:c1
        # summed over n0:n1; dU only when dw is asked for (saliency maps need dx alone),
        # each tile's share made in dU_tile (a new array per tile would cost as much as the sum)
        dU = np.zeros((form.k, F, C), dtype=U.dtype) if need_dw else None
        dU_tile = np.empty_like(dU) if need_dw else None
        db = np.zeros(F, dtype=U.dtype)
        V_buffer, M_buffer = buffers(n1 - n0, C, F, Q, U.dtype, form)
        for t0, t1 in tiles(n0, n1, len(V_buffer) // (form.k * C * Q)):
            # (T, F, OH, OW), or side by side (1, F, OH, W'): the outputs between the
            # images get no gradient, and the input columns between them give dx nothing
            g = side_by_side(dout[t0:t1], gap) if gap else dout[t0:t1]
            slots = len(g) * tile_slots(OH, g.shape[3], form)   # at most T*Q
            dM = leading(M_buffer, F, slots, form)            # (k, F, slots)
            form.output_adjoint(g, dM)
            if need_dw:                                       # dU[k] += dM[k] @ V[k].T
                images = side_by_side(x[t0:t1], gap) if gap else x[t0:t1]
                V = form.input(images, padding, leading(V_buffer, C, slots, form))
                dU += np.matmul(dM, V.transpose(0, 2, 1), out=dU_tile)
            if need_db:
                db += dout[t0:t1].sum(axis=(0, 2, 3))
            if need_dx:                                       # dV[k] = U[k].T @ dM[k]
                dV = np.matmul(U[:, :, c0:c1].transpose(0, 2, 1), dM,
                               out=leading(V_buffer, c1 - c0, slots, form))   # (k, C', slots)
                if gap:                                       # (1, C', H, W') -> (T, C', H, W)
                    wide = np.empty((1, c1 - c0, H, g.shape[3]), dtype=U.dtype)
                    apart(form.input_adjoint(dV, padding, wide), dx[t0:t1, c0:c1], gap)
                else:
                    form.input_adjoint(dV, padding, dx[t0:t1, c0:c1])
        return dU, db

    # dx alone (explanations) shares a single image by its channels; dw and db sum over images
    shares = for_each_part(N, C, backward_part, product_work(N * Q * form.k * F * C, U.size),
                           by_channels=not (need_dw or need_db))
    dw = transform_filters_adjoint(sum(dU for dU, _ in shares), form) if need_dw else None
    db = sum(db for _, db in shares) if need_db else None
    return dx, dw, db
