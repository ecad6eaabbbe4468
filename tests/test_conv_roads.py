"""Convolution on the fast route's two roads, im2col and Winograd's F(2x2, 3x3), against the
direct six-loop convolution (fast/kernels/naive.py) and centred differences: in tiles of any
size, with any subset of gradients asked for, and the choice of road by default.

The fast route's choices are made through its public switch, fast.configure
(fast/settings.py). test_conv2d_matches_six_loops runs on the plain route as well.
"""
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import minicnn
import minicnn.functional as F
from gradcheck import check_gradients
from kernel_calls import window_shapes
from minicnn import fast
from minicnn.fast import kept, small_maps, winograd
from minicnn.fast.kernels.naive import conv2d_naive
from minicnn.tensor import Tensor


# every 3x3 stride-1 convolution by Winograd, whatever its channels, map and batch; and by its
# F(4x4, 3x3) too
any_winograd = dict(winograd_min_channels=1, winograd_min_pixels=1, winograd_min_batch_pixels=1)
every_shape_by_f4 = dict(any_winograd, winograd_4x4_min_width=1, winograd_4x4_min_images=1)


@pytest.fixture(autouse=True, scope="module")
def fast_route():
    """The tests below are about the fast route's roads, whatever MINICNN_PLAIN says."""
    with minicnn.plain(False):
        yield


@settings(deadline=None, max_examples=30)
@given(F_=st.integers(1, 3), bias=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       **window_shapes)
@example(N=1, C=3, F_=2, bias=True, dtype=np.float32, H=5, W=3, KH=2, KW=3, stride=1, padding=1, seed=0)
def test_conv2d_matches_six_loops(N, C, F_, bias, dtype, H, W, KH, KW, stride, padding, seed):
    """Both routes, every shape: the convolution is the direct six-loop sum."""
    assume(KH <= H + 2 * padding and KW <= W + 2 * padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F_, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F_).astype(dtype) if bias else None
    b_tensor = None if b is None else Tensor(b)
    expected = conv2d_naive(x.astype(np.float64), w.astype(np.float64), b, stride, padding)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for plain in (False, True):
        with minicnn.plain(plain):
            out = F.conv2d(Tensor(x), Tensor(w), b_tensor, stride=stride, padding=padding)
        assert out.dtype == dtype
        np.testing.assert_allclose(out.data, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("images_per_tile", [1, 2, 3])
def test_conv2d_in_tiles_equals_one_tile(images_per_tile):
    """The convolution lays out a few images' columns at a time (settings().tile_bytes). Forward and all
    three gradients must not depend on where the tiles split the batch (5 images: the last
    tile is short for 2 and 3 per tile)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    dout = rng.standard_normal((5, 4, 3, 4))

    def run():
        xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        out = F.conv2d(xt, wt, bt, stride=2, padding=1)
        out.backward(dout)
        return out.data, xt.grad, wt.grad, bt.grad

    whole = run()                                       # the default: 5 small images fit one tile
    one_image = 3 * 3 * 3 * 3 * 4 * 8                   # C*KH*KW rows x OH*OW columns x 8 bytes
    with fast.configure(tile_bytes=images_per_tile * one_image):
        tiled = run()
    for got, want in zip(tiled, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole[0], conv2d_naive(x, w, b, 2, 1), rtol=1e-12, atol=1e-12)


winograd_shapes = dict(
    N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
    padding=st.integers(0, 2), seed=st.integers(0, 2 ** 16),
)


def winograd_assume(H, W, padding):
    assume(H + 2 * padding >= 3 and W + 2 * padding >= 3)               # room for a 3x3 filter


@settings(deadline=None, max_examples=30)
@given(F_=st.integers(1, 3), bias=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       **winograd_shapes)
@example(N=1, C=1, F_=1, H=1, W=1, padding=1, bias=True, dtype=np.float64, seed=0)    # OH = OW = 1
@example(N=3, C=2, F_=2, H=7, W=5, padding=0, bias=False, dtype=np.float32, seed=0)   # odd OH, OW
@example(N=2, C=3, F_=3, H=4, W=6, padding=2, bias=True, dtype=np.float64, seed=0)
def test_conv2d_by_winograd_matches_six_loops(N, C, F_, H, W, padding, bias, dtype, seed):
    out = winograd_against_six_loops(N, C, F_, H, W, padding, bias, dtype, seed,
                                     1e-12 if dtype == np.float64 else 1e-5,
                                     **any_winograd)
    assert out.ctx.form is winograd.F2                                  # small maps


def winograd_against_six_loops(N, C, F_, H, W, padding, bias, dtype, seed, tolerance, **configuration):
    """A random 3x3 stride-1 convolution on the Winograd road (with `configuration` in force)
    equals the direct six-loop sum to `tolerance`; returns its output."""
    winograd_assume(H, W, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F_, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(F_).astype(dtype) if bias else None
    with fast.configure(**configuration):
        out = F.conv2d(Tensor(x, requires_grad=True), Tensor(w), None if b is None else Tensor(b),
                       stride=1, padding=padding)
    assert out.ctx.winograd                                             # the road under test
    assert out.dtype == dtype
    expected = conv2d_naive(x.astype(np.float64), w.astype(np.float64), b, 1, padding)
    np.testing.assert_allclose(out.data, expected, rtol=tolerance, atol=tolerance)
    return out


@pytest.mark.parametrize("images_per_tile", [1, 2, 3])
def test_winograd_in_tiles_equals_one_tile(images_per_tile):
    """Like test_conv2d_in_tiles_equals_one_tile, for the Winograd road: it transforms a few
    images at a time (settings().tile_bytes), in the forward and again in the backward."""
    rng = np.random.default_rng(0)
    N, C, F_, H, W = 5, 3, 4, 6, 7                                      # 3 x 4 tiles per image
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F_, C, 3, 3))
    b = rng.standard_normal(F_)
    dout = rng.standard_normal((N, F_, H, W))                           # padding 1: same size

    def run():
        xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        out = F.conv2d(xt, wt, bt, stride=1, padding=1)
        assert out.ctx.winograd
        out.backward(dout)
        return out.data, xt.grad, wt.grad, bt.grad

    with fast.configure(**any_winograd, workers=1):     # one share: only tiles split
        whole = run()                                   # the default: 5 small images fit one tile
    slots = 3 * 5                                       # 3 rows of 4 tiles and a spare slot
    one_image = 16 * (C + F_) * slots * 8               # V and M of one image: 16 x (C + F) x Q x 8 bytes
    with fast.configure(**any_winograd, workers=1, tile_bytes=images_per_tile * one_image):
        V_buffer, _ = winograd.buffers(N, C, F_, slots, np.float64)
        assert len(V_buffer) == images_per_tile * 16 * C * slots      # the split under test
        tiled = run()
    for got, want in zip(tiled, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole[0], conv2d_naive(x, w, b, 1, 1), rtol=1e-12, atol=1e-12)


# The roads a single image can take, and the map width that sends it each way: im2col one
# product per image, or all its columns in one (wide_columns_below); F(2x2, 3x3) on maps of even
# width (two zero columns side by side), odd (one) or wider than side_by_side_max_width (apart);
# F(4x4, 3x3) on an even width and an odd one (side by side)
single_image_roads = {
    "im2col": (6, dict(winograd_min_channels=10**6, wide_columns_below=1)),
    "im2col, wide": (6, dict(winograd_min_channels=10**6)),
    "F2, even": (6, any_winograd),
    "F2, odd": (7, any_winograd),
    "F2, apart": (10, any_winograd),
    "F4, even": (16, every_shape_by_f4),
    "F4, odd": (15, every_shape_by_f4),
    "taps": (6, dict(winograd_min_channels=1, small_maps_max_pixels=10**9, small_maps_min_images=1)),
}


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("road", sorted(single_image_roads))
def test_a_single_image_shared_out_by_channels_equals_one_core(road, workers):
    """A single image's convolution is shared out between the cores by its channels
    (fast/parallel.py for_each_part): its output channels forward, its input channels for dx
    alone. On every road, uneven shares of 5 input and 7 output channels give the output and
    dx of the whole image on one core, and the output is the six-loop convolution."""
    W, road_settings = single_image_roads[road]
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((1, 5, 6, W)), rng.standard_normal((7, 5, 3, 3)), rng.standard_normal(7)
    dout = rng.standard_normal((1, 7, 6, W))                            # padding 1: same size

    def run(**configuration):
        with fast.configure(**road_settings, **configuration):
            xt = Tensor(x, requires_grad=True)                          # dx alone, as for saliency
            out = F.conv2d(xt, Tensor(w), Tensor(b), stride=1, padding=1)
            out.backward(dout)
        assert out.ctx.winograd == road.startswith("F")
        assert out.ctx.form is (winograd.F4 if road.startswith("F4") else
                                winograd.F2 if road.startswith("F2") else None)
        assert out.ctx.small_maps == ("taps" if road == "taps" else None)
        return out.data, xt.grad

    one_core = run(workers=1)
    shared = run(workers=workers, conv_min_share=1)                     # every channel worth a share
    for got, want in zip(shared, one_core):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(shared[0], conv2d_naive(x, w, b, 1, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("road", sorted(single_image_roads))
def test_a_single_image_with_filter_gradients_equals_one_core(road):
    """When dw or db is asked for, a single image's backward stays whole (they sum over the
    images; for_each_part(by_channels=False)): all three gradients as on one core."""
    W, road_settings = single_image_roads[road]
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((1, 5, 6, W)), rng.standard_normal((7, 5, 3, 3)), rng.standard_normal(7)
    dout = rng.standard_normal((1, 7, 6, W))

    def run(**configuration):
        with fast.configure(**road_settings, **configuration):
            tensors = [Tensor(a, requires_grad=True) for a in (x, w, b)]
            F.conv2d(*tensors, stride=1, padding=1).backward(dout)
        return [t.grad for t in tensors]

    for got, want in zip(run(workers=2, conv_min_share=1), run(workers=1)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True),
                                   (True, False, True)], ids=["x", "w", "b", "x,b"])
def test_winograd_gradients_asked_for_alone_equal_im2col(needs):
    """With only some inputs requiring grad (so forward keeps no V, or backward skips dx), the
    gradients asked for are those of the im2col route."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    dout = rng.standard_normal((2, 2, 5, 6))

    def grads():
        tensors = [Tensor(a, requires_grad=need) for a, need in zip((x, w, b), needs)]
        out = F.conv2d(*tensors, stride=1, padding=1)
        out.backward(dout)
        return out.ctx.winograd, [t.grad for t in tensors]

    by_im2col, expected = grads()
    with fast.configure(**any_winograd):
        by_winograd, got = grads()
    assert (by_im2col, by_winograd) == (False, True)
    for g, e, need in zip(got, expected, needs):
        assert (g is None) == (not need)
        if need:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("C, KH, stride, padding, size, N, road", [
    (24, 3, 1, 1, 6, 3, "winograd"),    # the threshold, settings().winograd_min_channels
    (25, 3, 1, 0, 6, 7, "winograd"),
    (23, 3, 1, 1, 6, 3, "im2col"),      # too few channels to pay
    (3, 3, 1, 1, 6, 3, "im2col"),       # RGB
    (24, 3, 2, 1, 6, 3, "im2col"),      # stride 2
    (24, 5, 1, 2, 6, 3, "im2col"),      # 5x5 filters
    (32, 3, 1, 2, 2, 7, "winograd"),    # maps of 4x4 pixels, settings().winograd_min_pixels
    (32, 3, 1, 1, 3, 2, "im2col"),      # 3x3 (vgg_bn_net's last): im2col, the tile's images in one product
    (24, 3, 1, 1, 3, 15, "im2col"),     # ... up to 15 images,
    (24, 3, 1, 1, 3, 16, "taps"),       # ... from 16 products per filter tap,
    (24, 3, 1, 1, 3, 383, "taps"),
    (24, 3, 1, 1, 3, 384, "pixels"),    # ... from 384 products per output pixel
    (23, 3, 1, 1, 3, 64, "im2col"),     # ... with as many channels as Winograd needs
    (24, 3, 2, 1, 5, 64, "im2col"),     # ... at stride 1
    (24, 2, 1, 0, 4, 64, "taps"),       # ... and filters of any size
    (24, 2, 1, 0, 4, 384, "pixels"),
    (32, 3, 1, 0, 6, 7, "winograd"),    # 4x4 without padding
    (32, 3, 1, 0, 5, 2, "im2col"),      # 3x3 without padding
    (24, 3, 1, 0, 5, 64, "taps"),       # ... in a batch of 64
    (24, 3, 1, 1, 4, 1, "im2col"),      # a single 4x4 map: 16 pixels, under winograd_min_batch_pixels
    (24, 3, 1, 1, 4, 6, "im2col"),      # ... six (96)
    (24, 3, 1, 1, 7, 2, "im2col"),      # ... two 7x7 maps (98)
    (24, 3, 1, 1, 10, 1, "winograd"),   # ... but a single 10x10 (100)
    (24, 3, 1, 1, 4, 7, "winograd"),    # ... and seven 4x4 maps (112)
    (24, 3, 1, 1, 4, 15, "winograd"),   # 4x4 maps: Winograd up to 15 images,
    (24, 3, 1, 1, 4, 16, "taps"),       # ... per tap from 16 (16 pixels, small_maps_max_pixels)
    (24, 3, 1, 1, 4, 384, "pixels"),    # ... and per pixel from 384
    (24, 3, 1, 2, 6, 384, "winograd"),  # 8x8 maps: Winograd in any batch
])
def test_conv2d_takes_its_road_by_default(C, KH, stride, padding, size, N, road):
    """With the default thresholds, 3x3 stride-1 layers with 24 channels or more and maps of
    4x4 or more use Winograd, and stride-1 layers with as many channels and maps of up to 4x4
    products per filter tap in batches of 16 to 383 images, per output pixel in larger ones;
    the rest im2col. Whichever road, the result is the six-loop convolution."""
    assert fast.settings().winograd_min_channels == 24, "the channel counts above straddle it"
    assert fast.settings().winograd_min_pixels == 16, "and the map sizes this"
    assert fast.settings().winograd_min_batch_pixels == 100, "and the small batches' maps this"
    assert fast.settings().small_maps_max_pixels == 16, "and this"
    assert fast.settings().small_maps_min_images == 16, "and the batch sizes these"
    assert fast.settings().small_maps_by_pixel_min_images == 384
    rng = np.random.default_rng(C + size)
    x = rng.standard_normal((N, C, size, size))
    w = rng.standard_normal((2, C, KH, KH))
    b = rng.standard_normal(2)
    out = F.conv2d(Tensor(x, requires_grad=True), Tensor(w), Tensor(b), stride=stride, padding=padding)
    assert out.ctx.winograd == (road == "winograd")
    assert out.ctx.small_maps == (road if road in ("taps", "pixels") else None)
    np.testing.assert_allclose(out.data, conv2d_naive(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=20)
@given(N=st.integers(1, 2), C=st.integers(1, 3), F_=st.integers(1, 3),
       H=st.integers(1, 6), W=st.integers(1, 6), padding=st.integers(0, 2), bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
@example(N=2, C=2, F_=3, H=5, W=4, padding=1, bias=True, seed=0)     # odd H: a half-used tile row
@example(N=1, C=1, F_=2, H=1, W=3, padding=1, bias=False, seed=1)    # one row, mostly padding
@example(N=1, C=3, F_=1, H=6, W=5, padding=0, bias=True, seed=2)
@example(N=2, C=1, F_=1, H=3, W=2, padding=2, bias=False, seed=3)
def test_conv2d_by_winograd_gradients(N, C, F_, H, W, padding, bias, seed):
    """3x3 stride-1 filters through Winograd's F(2x2, 3x3) (every channel count here, not just
    C >= 24): its backward must be the true gradient of its forward."""
    winograd_gradients(N, C, F_, H, W, padding, bias, seed, winograd.F2, **any_winograd)


def winograd_gradients(N, C, F_, H, W, padding, bias, seed, form, **configuration):
    """Centred differences (float64) against the backward of a random 3x3 stride-1
    convolution by Winograd's `form`, with `configuration` in force."""
    assume(H + 2 * padding >= 3 and W + 2 * padding >= 3)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((F_, C, 3, 3))]
    arrays += [rng.standard_normal(F_)] if bias else []

    def conv(x, w, b=None):
        out = F.conv2d(x, w, b, stride=1, padding=padding)
        assert out.ctx is None or (out.ctx.winograd and out.ctx.form is form)   # the road under test
        return out
    with fast.configure(**configuration):
        check_gradients(conv, *arrays, seed=seed)


def test_side_by_side_shares_the_zero_columns_and_saves_spare_slots():
    """Odd widths with padding 1 are transformed side by side: apart undoes side_by_side,
    the columns between images are zero, and a tile of four 7x7 images takes 4 rows of
    4 * 4 + 1 slots instead of 4 x (4 rows of 5)."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 2, 7, 7))
    wide = winograd.side_by_side(images)                                # (1, 2, 7, 31)
    assert wide.shape == (1, 2, 7, 31)
    assert not wide[0, :, :, 7::8].any()                                # the shared padding
    np.testing.assert_array_equal(winograd.apart(wide, np.empty_like(images)), images)
    assert winograd.side_by_side_gap(7, 1) == 1 and winograd.side_by_side_gap(7, 0) == 0
    assert winograd.side_by_side_gap(31, 1) == 1
    assert winograd.side_by_side_gap(7, 1, winograd.F4) == 1 and winograd.side_by_side_gap(31, 1, winograd.F4) == 1
    assert winograd.tile_slots(7, 31) == 4 * 17 < 4 * winograd.tile_slots(7, 7) == 80


def test_small_even_maps_go_side_by_side_with_two_zero_columns():
    """Even widths up to side_by_side_max_width go side by side with each image's own
    padding (two zero columns between neighbours): the same tile slots as apart, and the
    convolution equals im2col's in float64."""
    assert fast.settings().side_by_side_max_width == 8
    assert winograd.side_by_side_gap(4, 1) == 2 and winograd.side_by_side_gap(8, 1) == 2
    assert winograd.side_by_side_gap(16, 1) == 0 and winograd.side_by_side_gap(4, 2) == 0
    assert winograd.side_by_side_gap(8, 1, winograd.F4) == 0      # F(4x4, 3x3): even widths apart
    rng = np.random.default_rng(1)
    images = rng.standard_normal((3, 2, 4, 4))
    wide = winograd.side_by_side(images, gap=2)                         # (1, 2, 4, 16)
    assert wide.shape == (1, 2, 4, 16) and not wide[0, :, :, 4::6].any() and not wide[0, :, :, 5::6].any()
    np.testing.assert_array_equal(winograd.apart(wide, np.empty_like(images), gap=2), images)
    assert winograd.tile_slots(4, 16) == 3 * winograd.tile_slots(4, 4)
    x = rng.standard_normal((7, 24, 4, 4))
    w = rng.standard_normal((6, 24, 3, 3))
    b = rng.standard_normal(6)
    dout = rng.standard_normal((7, 6, 4, 4))

    def forward_backward():                     # out, dx, dw, db
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.conv2d(xt, wt, bt, stride=1, padding=1)
        out.backward(dout)
        return out, [out.data, xt.grad, wt.grad, bt.grad]
    out, got = forward_backward()
    assert out.ctx.winograd                     # 24 channels, 7 x 16 pixels: the Winograd road
    with minicnn.plain():
        _, want = forward_backward()
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


# Winograd's F(4x4, 3x3) (fast/kernels/winograd4.py): for maps at least winograd_4x4_min_width
# wide (narrower ones in large batches), odd widths with padding 1 side by side.
# every_shape_by_f4 (at the top) sends every shape there.


@settings(deadline=None, max_examples=30)
@given(F_=st.integers(1, 3), bias=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 11), W=st.integers(1, 11),
       padding=st.integers(0, 2), seed=st.integers(0, 2 ** 16))
@example(N=2, C=2, F_=2, H=10, W=10, padding=1, bias=True, dtype=np.float32, seed=0)  # 3 tile rows, the last half used
@example(N=1, C=1, F_=1, H=1, W=2, padding=1, bias=False, dtype=np.float64, seed=0)   # one tile, mostly padding
@example(N=3, C=3, F_=1, H=9, W=7, padding=0, bias=True, dtype=np.float32, seed=0)
def test_conv2d_by_winograd_4x4_matches_six_loops(N, C, F_, H, W, padding, bias, dtype, seed):
    # test_kernels_winograd.py says why F(4x4, 3x3)'s tolerance is larger
    out = winograd_against_six_loops(N, C, F_, H, W, padding, bias, dtype, seed,
                                     1e-11 if dtype == np.float64 else 1e-4, **every_shape_by_f4)
    assert out.ctx.form is winograd.F4


@settings(deadline=None, max_examples=20)
@given(N=st.integers(1, 2), C=st.integers(1, 3), F_=st.integers(1, 3),
       H=st.integers(1, 10), W=st.integers(1, 10), padding=st.integers(0, 2), bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
@example(N=2, C=2, F_=3, H=6, W=10, padding=1, bias=True, seed=0)
@example(N=1, C=3, F_=1, H=9, W=6, padding=0, bias=True, seed=2)
def test_conv2d_by_winograd_4x4_gradients(N, C, F_, H, W, padding, bias, seed):
    """F(4x4, 3x3)'s backward is the true gradient of its forward (float64, centred differences),
    side by side too (odd W with padding 1)."""
    winograd_gradients(N, C, F_, H, W, padding, bias, seed, winograd.F4, **every_shape_by_f4)


@pytest.mark.parametrize("images_per_tile", [1, 2, 3])
@pytest.mark.parametrize("W", [10, 9, 7])
def test_winograd_4x4_in_tiles_equals_one_tile(images_per_tile, W):
    """F(4x4, 3x3) transforms all of a tile's images in one pass along the rows (the spare slot
    of one image reads the next one's first columns), or, at odd widths, side by side (at 9
    wide a tile straddles two images; at 7, as at vgg_bn_net's widths, it does not): forward
    and gradients must not depend on where the tiles split the batch."""
    rng = np.random.default_rng(W)
    N, C, F_, H = 5, 3, 4, 6                                            # 2 x 3 (or 2) tiles per image
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F_, C, 3, 3)), rng.standard_normal(F_)
    dout = rng.standard_normal((N, F_, H, W))

    def run():
        xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        out = F.conv2d(xt, wt, bt, stride=1, padding=1)
        assert out.ctx.form is winograd.F4
        out.backward(dout)
        return out.data, xt.grad, wt.grad, bt.grad

    with fast.configure(**every_shape_by_f4, workers=1):
        whole = run()
    slots = winograd.tile_slots(H, W, winograd.F4)      # 2 rows of 3 (or 2) tiles and a spare slot
    assert slots == (8 if W > 8 else 6)
    one_image = 36 * (C + F_) * slots * 8               # V and M of one image, float64
    with fast.configure(**every_shape_by_f4, workers=1, tile_bytes=images_per_tile * one_image):
        V_buffer, _ = winograd.buffers(N, C, F_, slots, np.float64, winograd.F4)
        assert len(V_buffer) == images_per_tile * 36 * C * slots      # the split under test
        tiled = run()
    for got, want in zip(tiled, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole[0], conv2d_naive(x, w, b, 1, 1), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("N, size, padding, form", [
    (4, 32, 1, "F4"),                   # the reference net's conv2: 32x32 maps
    (4, 16, 1, "F4"),                   # conv3, conv4: 16x16
    (4, 18, 0, "F4"),                   # 16x16 maps without padding
    (3, 32, 1, "F4"),                   # settings().winograd_4x4_min_images
    (2, 32, 1, "F2"),                   # fewer images than that
    (1, 16, 1, "F2"),                   # one image (a saliency map)
    (4, 31, 1, "F4"),                   # vgg_bn_net's odd widths, side by side
    (4, 15, 1, "F4"),                   # settings().winograd_4x4_min_width
    (4, 14, 1, "F2"),                   # narrower than 15
    (4, 7, 1, "F2"),                    # vgg_bn_net's 7x7: side by side
    (4, 8, 1, "F2"),                    # residual_net's 8x8: side by side, two zero columns
    (127, 7, 1, "F2"),                  # narrow maps: fewer than winograd_4x4_narrow_min_images
    (128, 7, 1, "F4"),                  # ... and that many (vgg_bn_net's 7x7 in training)
    (128, 8, 1, "F4"),                  # residual_net's 8x8 in training
    (128, 6, 1, "F2"),                  # narrower than winograd_4x4_narrow_min_width
])
def test_conv2d_takes_the_winograd_4x4_road_by_default(N, size, padding, form):
    assert fast.settings().winograd_4x4_min_width == 15, "the sizes above straddle it"
    assert fast.settings().winograd_4x4_min_images == 3, "and the batches this"
    assert fast.settings().winograd_4x4_narrow_min_width == 7, "and the narrow widths this"
    assert fast.settings().winograd_4x4_narrow_min_images == 128, "and their batches this"
    rng = np.random.default_rng(size)
    x, w = rng.standard_normal((N, 24, size, size)), rng.standard_normal((3, 24, 3, 3))
    out = F.conv2d(Tensor(x, requires_grad=True), Tensor(w), None, stride=1, padding=padding)
    assert out.ctx.winograd and out.ctx.form is getattr(winograd, form)
    np.testing.assert_allclose(out.data, conv2d_naive(x, w, None, 1, padding), rtol=1e-10, atol=1e-10)


# Filters that get no gradient keep their layout for a road (fast/kept.py): Winograd's
# transform (winograd.kept_transform) and the filters per tap (small_maps.kept_taps)
kept_layouts = {
    "F2": (lambda w: winograd.kept_transform(w, winograd.F2),
           lambda w: winograd.transform_filters(w, winograd.F2)),
    "F4": (lambda w: winograd.kept_transform(w, winograd.F4),
           lambda w: winograd.transform_filters(w, winograd.F4)),
    "taps": (small_maps.kept_taps, small_maps.taps_of),
}


@pytest.mark.parametrize("layout", sorted(kept_layouts))
def test_kept_layouts_are_reused_only_while_the_weights_are_unchanged(layout):
    keep, make = kept_layouts[layout]
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 3, 3, 3))
    entries = len(kept._kept)
    laid_out = keep(w)
    assert keep(w) is laid_out                                          # the same array again
    np.testing.assert_array_equal(laid_out, make(w))
    assert not laid_out.flags.writeable
    w[2, 1, 0, 2] += 1.0                                                # changed in place
    changed = keep(w)
    np.testing.assert_array_equal(changed, make(w))
    assert not np.array_equal(changed, laid_out)
    same_values = w.copy()                                              # another array
    assert keep(same_values) is not changed
    assert len(kept._kept) == entries + 2
    del w, same_values                                                  # entries go with them
    assert len(kept._kept) == entries


def test_each_layout_is_kept_apart():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3, 3, 3))
    for keep, make in kept_layouts.values():
        np.testing.assert_array_equal(keep(w), make(w))
    for keep, make in kept_layouts.values():                           # each still its own
        np.testing.assert_array_equal(keep(w), make(w))


@pytest.mark.parametrize("size, N, key", [(6, 3, ("winograd", 2)), (3, 16, "taps")],
                         ids=["F(2x2, 3x3)", "taps"])
def test_a_layer_without_gradients_sees_its_weights_change(size, N, key):
    """Inference keeps the filters' layout; an optimizer step (in place) and a changed weight
    array both show in the next output, as on the plain route."""
    rng = np.random.default_rng(6)
    conv = minicnn.nn.Conv2d(24, 8, 3, padding=1)
    x = rng.standard_normal((N, 24, size, size)).astype(np.float32)

    def both_routes():
        with minicnn.no_grad():
            out = conv(Tensor(x)).data
            with minicnn.plain():
                want = conv(Tensor(x)).data
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
        return out

    first = both_routes()
    assert (id(conv.weight.data), key) in kept._kept, "the road under test kept its layout"
    out = conv(Tensor(x))                                               # a training step
    out.backward(np.ones_like(out.data))
    minicnn.optim.SGD(conv.parameters(), lr=0.1).step()                 # changes w in place
    second = both_routes()
    assert not np.allclose(first, second)
    conv.weight.data[...] = 0                                           # by hand, in place
    np.testing.assert_array_equal(both_routes(), np.broadcast_to(conv.bias.data[:, None, None],
                                                                 first.shape))


# Small maps without the padding's taps (fast/small_maps.py): products per filter tap in
# small batches, per output pixel in large ones. The settings below send every stride-1
# convolution down one of the two roads, whatever its filters and maps.
every_shape_by = {
    "taps": dict(winograd_min_channels=1, small_maps_max_pixels=10 ** 9, small_maps_min_images=1,
                 small_maps_by_pixel_min_images=10 ** 9),
    "pixels": dict(winograd_min_channels=1, small_maps_max_pixels=10 ** 9, small_maps_min_images=1,
                   small_maps_by_pixel_min_images=1),
}
small_map_shapes = dict(N=st.integers(1, 3), C=st.integers(1, 3), F_=st.integers(1, 3),
                        H=st.integers(1, 5), W=st.integers(1, 5), KH=st.integers(1, 3),
                        KW=st.integers(1, 3), padding=st.integers(0, 2), seed=st.integers(0, 2 ** 16))


def small_map_assume(H, W, KH, KW, padding):
    assume(H + 2 * padding >= KH and W + 2 * padding >= KW)


@pytest.mark.parametrize("road", sorted(every_shape_by))
@settings(deadline=None, max_examples=40)
@given(bias=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]), **small_map_shapes)
@example(N=2, C=3, F_=2, H=3, W=3, KH=3, KW=3, padding=1, bias=True, dtype=np.float64, seed=0)  # vgg_bn_net's conv7
@example(N=1, C=2, F_=2, H=1, W=1, KH=1, KW=1, padding=2, bias=True, dtype=np.float64, seed=0)  # windows of padding only
@example(N=2, C=1, F_=3, H=2, W=4, KH=2, KW=3, padding=0, bias=False, dtype=np.float32, seed=0)
def test_conv2d_small_maps_match_six_loops(road, N, C, F_, H, W, KH, KW, padding, bias, dtype, seed):
    small_map_assume(H, W, KH, KW, padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F_, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F_).astype(dtype) if bias else None
    with fast.configure(**every_shape_by[road]):
        out = F.conv2d(Tensor(x), Tensor(w), None if b is None else Tensor(b), stride=1, padding=padding)
    assert out.ctx is None or out.ctx.small_maps == road                # no graph: no ctx kept
    assert out.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    expected = conv2d_naive(x.astype(np.float64), w.astype(np.float64), b, 1, padding)
    np.testing.assert_allclose(out.data, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("road", sorted(every_shape_by))
@settings(deadline=None, max_examples=25)
@given(bias=st.booleans(), **small_map_shapes)
@example(N=2, C=2, F_=2, H=3, W=3, KH=3, KW=3, padding=1, bias=True, seed=0)
@example(N=1, C=1, F_=1, H=1, W=2, KH=1, KW=2, padding=2, bias=True, seed=1)   # some windows all padding
def test_conv2d_small_maps_gradients(road, N, C, F_, H, W, KH, KW, padding, bias, seed):
    """The backward of the products per tap or per pixel, summed where they overlap, is the
    true gradient of its forward (float64, centred differences)."""
    small_map_assume(H, W, KH, KW, padding)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((N, C, H, W)), rng.standard_normal((F_, C, KH, KW))]
    arrays += [rng.standard_normal(F_)] if bias else []

    def conv(x, w, b=None):
        out = F.conv2d(x, w, b, stride=1, padding=padding)
        assert out.ctx is None or out.ctx.small_maps == road           # the road under test
        return out
    with fast.configure(**every_shape_by[road]):
        check_gradients(conv, *arrays, seed=seed)


@pytest.mark.parametrize("needs", [(True, True, True), (True, False, False), (False, True, False),
                                   (False, False, True), (True, False, True)],
                         ids=["all", "x", "w", "b", "x,b"])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("N", [1, 7])
@pytest.mark.parametrize("road", sorted(every_shape_by))
def test_conv2d_small_maps_equal_im2col_in_shares(road, N, needs, workers):
    """Each core's share of the batch (of a single image: of its channels), and any subset of
    the gradients: the same results as im2col's, for vgg_bn_net's 3x3 maps with padding 1."""
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((N, 24, 3, 3)), rng.standard_normal((5, 24, 3, 3)), rng.standard_normal(5)
    dout = rng.standard_normal((N, 5, 3, 3))

    def run(**configuration):
        with fast.configure(**configuration):
            tensors = [Tensor(a, requires_grad=need) for a, need in zip((x, w, b), needs)]
            out = F.conv2d(*tensors, stride=1, padding=1)
            out.backward(dout)
        return out, [t.grad for t in tensors]

    by_im2col, expected = run(small_maps_max_pixels=1)
    by_road, got = run(**every_shape_by[road], workers=workers, conv_min_share=1)
    assert (by_im2col.ctx.small_maps, by_road.ctx.small_maps) == (None, road)
    np.testing.assert_allclose(by_road.data, by_im2col.data, rtol=1e-12, atol=1e-12)
    for g, e, need in zip(got, expected, needs):
        assert (g is None) == (not need)
        if need:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
