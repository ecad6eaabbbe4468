"""The explorer's HTTP API (minicnn/explore/server.py), through Starlette's TestClient.

Every endpoint answers what minicnn.visualize computes for the same image, bad input gets a
4xx with a message, a failing request a 500 and the next request an answer, and several
requests at once, each with its own ReLU rule, get the answers they would get alone.
"""
import base64
import json
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")                  # what starlette.testclient uses
from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from explore_helpers import ThreadedServer, decode_png, make_explorer, png_file  # noqa: E402
from minicnn import visualize as V  # noqa: E402
from minicnn.explore.data import MAX_UPLOAD, png_bytes  # noqa: E402
from minicnn.explore.index import top9_index  # noqa: E402
from minicnn.explore.server import create_app  # noqa: E402
from minicnn.visualize.layer_views import recon_block  # noqa: E402
from minicnn.visualize.top_patches import common_size  # noqa: E402


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    return make_explorer(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def client(explorer):
    with TestClient(create_app(explorer), raise_server_exceptions=False) as client:
        yield client


def x_of(explorer, i):
    return V.to_input(explorer.images[i:i + 1], explorer.mean, explorer.std)


def ok(response, kind="application/json"):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(kind)
    return response.json() if kind == "application/json" else decode_png(response.content)


def refused(response, status, *fragments):
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for fragment in fragments:
        assert fragment in message, message
    return message


# ------------------------------------------------------------------ the page and its files

def test_the_page_and_its_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/static/app.js\"" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", [
    "/static/../explorer.py", "/static/%2e%2e/explorer.py", "/static/..%2fexplorer.py",
    "/static/..%2f..%2f__init__.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/static/../../../../etc/passwd", "/api/image/..%2f..%2fetc/passwd.png",
    "/explorer.py", "/minicnn/explore/server.py",
])
def test_no_request_reads_a_file_outside_the_static_folder(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404), (path, response.status_code)
    assert b"import" not in response.content and b"root:" not in response.content


def test_info_lists_the_layers_classes_and_cascade(client, explorer):
    info = ok(client.get("/api/info"))
    assert info["classes"] == list(explorer.classes)
    assert [layer["name"] for layer in info["layers"]] == [n for n in explorer.model.names
                                                          if n != "flatten"]
    conv3 = next(layer for layer in info["layers"] if layer["name"] == "conv3")
    assert conv3["shape"] == [64, 16, 16] and conv3["spatial"]
    y0, y1, x0, x1 = V.receptive_field(explorer.model, "conv3", 7, 4)
    assert conv3["rf_rows"][7] == [y0, y1] and conv3["rf_cols"][4] == [x0, x1]
    assert info["cascade"] == ["trained", "fc2", "fc1", "conv4", "conv3", "conv2", "conv1"]
    assert info["images"] == len(explorer.images) and sum(info["per_class"]) == info["images"]


# ------------------------------------------------------------------ images and classes

def test_an_image_is_its_pixels_and_its_probabilities_the_apis(client, explorer):
    pixels = ok(client.get("/api/image/test/17.png"), "image/png")
    assert np.array_equal(pixels, explorer.images[17].transpose(1, 2, 0))
    p = ok(client.get("/api/predict/test/17"))
    expected = V.probabilities(explorer.model, x_of(explorer, 17))[0]
    np.testing.assert_allclose(p["probabilities"], expected, rtol=1e-6, atol=1e-9)
    assert p["predicted"] == explorer.classes[expected.argmax()]
    assert p["label"] == explorer.classes[explorer.labels[17]]


def test_images_by_class_and_at_random(client, explorer):
    cats = ok(client.get("/api/images?class=cat&count=5"))
    assert cats["total"] == int((explorer.labels == 3).sum())
    assert all(explorer.labels[i] == 3 for i in cats["indices"])
    for seed in range(5):
        r = ok(client.get(f"/api/random?class=dog&seed={seed}"))
        assert explorer.labels[r["index"]] == 5
    refused(client.get("/api/images?class=unicorn"), 404, "unicorn", "classes are")
    refused(client.get("/api/images?count=lots"), 400, "count")


def test_activations_are_the_layers_outputs(client, explorer):
    answer = ok(client.get("/api/activations/test/3/conv2"))
    a = np.frombuffer(base64.b64decode(answer["data"]), dtype="<f4").reshape(answer["shape"])
    acts = explorer.model.activations(minicnn_tensor(x_of(explorer, 3)), ["conv2", "fc1"])
    np.testing.assert_allclose(a, acts["conv2"].data[0], rtol=1e-5, atol=1e-5)
    fc1 = ok(client.get("/api/activations/test/3/fc1"))
    assert fc1["shape"] == [256, 1, 1]
    refused(client.get("/api/activations/test/3/conv9"), 404, "conv9", "layers are")
    refused(client.get("/api/activations/test/3/flatten"), 404, "flatten")


def minicnn_tensor(x):
    from minicnn.tensor import Tensor
    return Tensor(x)


# ------------------------------------------------------------------ units

def test_a_units_top9_are_the_top_activations(client, explorer):
    top = V.top_activations(explorer.model, explorer.images, "conv4")     # computed afresh
    unit = ok(client.get("/api/unit/conv4/17"))
    assert [t["index"] for t in unit["top"]] == list(top.index[17])
    np.testing.assert_allclose([t["value"] for t in unit["top"]], top.value[17], rtol=1e-5)
    first = unit["top"][0]
    assert first["box"] == list(V.receptive_field(explorer.model, "conv4", first["y"], first["x"]))
    size = common_size(explorer.model, "conv4")                          # 14 pixels
    crops = ok(client.get("/api/unit/conv4/17/top9.png"), "image/png")
    assert crops.shape == (3 * size + 2, 3 * size + 2, 3)
    recons = V.reconstructions(explorer.model, explorer.images, top, "conv4", channels=[17])[0]
    guided = ok(client.get("/api/unit/conv4/17/guided.png"), "image/png")
    assert np.abs(guided.astype(int) - decode_png(png_bytes(recon_block(recons, size)))).max() <= 1
    deconv = ok(client.get("/api/unit/conv4/17/deconv.png"), "image/png")
    assert deconv.shape == guided.shape and not np.array_equal(deconv, guided)


def test_conv1_weights_are_its_filter_and_deeper_weights_are_no_picture(client, explorer):
    w = ok(client.get("/api/unit/conv1/5/weights.png"), "image/png")
    expected = V.weights_to_rgb(V.conv_filters(explorer.model)[5:6])[0]          # (3, 3, 3)
    assert np.abs(w.astype(float) - expected * 255).max() <= 0.5 + 1e-9
    assert ok(client.get("/api/unit/conv1/5"))["has_weights"]
    assert not ok(client.get("/api/unit/conv2/5"))["has_weights"]
    refused(client.get("/api/unit/conv2/5/weights.png"), 404, "conv1")
    refused(client.get("/api/unit/conv1/5/colour.png"), 404, "top9")


def test_a_units_value_on_an_image(client, explorer):
    v = ok(client.get("/api/unit/relu3/7/value/test/40"))
    a = explorer.model.activations(minicnn_tensor(x_of(explorer, 40)), ["relu3"])["relu3"].data[0, 7]
    assert v["value"] == pytest.approx(float(a.max()), rel=1e-5)
    assert a[v["y"], v["x"]] == pytest.approx(float(a.max()), rel=1e-5)
    assert v["box"] == list(V.receptive_field(explorer.model, "relu3", v["y"], v["x"]))
    fc2 = ok(client.get("/api/unit/fc2/3/value/test/40"))
    logits = explorer.model(minicnn_tensor(x_of(explorer, 40))).data[0]
    assert fc2["value"] == pytest.approx(float(logits[3]), rel=1e-5)


@pytest.mark.parametrize("path, fragments", [
    ("/api/unit/conv9/1", ["conv9", "layers are"]),
    ("/api/unit/conv4/64", ["0..63", "64"]),
    ("/api/unit/conv4/-1", ["0..63"]),
    ("/api/unit/conv4/abc", ["abc"]),
    ("/api/unit/fc1/256/top9.png", ["0..255"]),
    ("/api/unit/conv4/3/value/test/300", ["300", "0..299"]),
    ("/api/unit/conv4/3/value/upload/feedbeef", ["feedbeef"]),
    ("/api/unit/conv4/3/value/train/1", ["train"]),
])
def test_unknown_units_and_images_are_404_with_a_message(client, path, fragments):
    refused(client.get(path), 404, *fragments)


# ------------------------------------------------------------------ explanations

@pytest.mark.parametrize("method, rule, how", [("saliency", "normal", "absmax"),
                                               ("guided", "guided", "rgb"),
                                               ("deconv", "deconv", "rgb")])
def test_the_three_gradient_maps_are_the_three_rules(client, explorer, method, rule, how):
    picture = ok(client.get(f"/api/explain/test/8/{method}.png?target=cat"), "image/png")
    g = V.gradient(explorer.model, x_of(explorer, 8), "cat", rule=rule)
    expected = decode_png(png_bytes(V.render_map(g, how)[0]))
    assert np.abs(picture.astype(int) - expected).max() <= 1
    numbers = ok(client.get(f"/api/explain/test/8/{method}?target=cat"))
    assert numbers["rule"] == rule and numbers["target"] == {"class": "cat", "index": 3}
    p = V.probabilities(explorer.model, x_of(explorer, 8))[0, 3]
    assert numbers["score"]["probability"] == pytest.approx(p, rel=1e-6)


def test_smoothgrad_smooths_the_rule_asked_for(client, explorer):
    x = x_of(explorer, 9)
    for rule, method in (("normal", "saliency"), ("guided", "guided")):
        picture = ok(client.get(f"/api/explain/test/9/smoothgrad.png?target=2&rule={rule}&n=8"),
                     "image/png")
        g = V.smoothgrad(explorer.model, x, 2, method=method, n=8)
        expected = decode_png(png_bytes(V.render_map(g, "absmax" if rule == "normal" else "rgb")[0]))
        assert np.abs(picture.astype(int) - expected).max() <= 1


def test_lrp_and_integrated_gradients_are_their_relevance_per_pixel(client, explorer):
    x = x_of(explorer, 9)
    for method, relevance in (("lrp", V.lrp(explorer.model, x, "ship", epsilon=0.25)),
                              ("integrated_gradients",
                               V.integrated_gradients(explorer.model, x, "ship", steps=32))):
        picture = ok(client.get(f"/api/explain/test/9/{method}.png?target=ship"), "image/png")
        per_pixel = relevance[0].sum(axis=0)
        red_minus_blue = picture[..., 0].astype(int) - picture[..., 2].astype(int)
        # red where the relevance is positive, blue where negative (RdBu_r)
        strong = np.abs(per_pixel) > 0.3 * np.abs(per_pixel).max()
        assert strong.any()
        assert (np.sign(red_minus_blue[strong]) == np.sign(per_pixel[strong])).all(), method
        numbers = ok(client.get(f"/api/explain/test/9/{method}?target=ship"))
        assert numbers["sum"] == pytest.approx(float(relevance.sum()), rel=1e-5)
    refused(client.get("/api/explain/test/9/lrp?target=frog:2"), 404)


def test_a_unit_can_be_explained(client, explorer):
    numbers = ok(client.get("/api/explain/test/9/guided?target=conv4:17"))
    assert numbers["target"] == {"layer": "conv4", "unit": [17]}
    out = explorer.model.upto("conv4")(minicnn_tensor(x_of(explorer, 9))).data[0, 17]
    assert numbers["score"]["value"] == pytest.approx(float(out.sum()), rel=1e-5)
    ok(client.get("/api/explain/test/9/saliency.png?target=conv3:5:4:6"), "image/png")
    refused(client.get("/api/explain/test/9/saliency?target=conv3:5:16:0"), 404, "0..15")
    refused(client.get("/api/explain/test/9/saliency?target=conv3:5:4"), 404, "layer:channel")
    # Grad-CAM at relu4 cannot explain a unit below it, and occlusion only explains classes
    refused(client.get("/api/explain/test/9/gradcam?target=conv3:5"), 400, "must come after")
    refused(client.get("/api/explain/test/9/occlusion?target=conv3:5"), 400, "class")


def test_gradcam_is_the_apis(client, explorer):
    numbers = ok(client.get("/api/explain/test/10/gradcam?target=dog"))
    cam = V.gradcam(explorer.model, x_of(explorer, 10), "dog")
    assert numbers["layer"] == "relu4" and numbers["max"] == pytest.approx(float(cam.max()), rel=1e-5)
    picture = ok(client.get("/api/explain/test/10/gradcam.png?target=dog&layer=relu3"), "image/png")
    assert picture.shape == (32, 32, 3)


def test_occlusion_at_one_position_is_the_maps_value_there(client, explorer):
    x = x_of(explorer, 11)
    prob, base = V.occlusion(explorer.model, x, "ship", size=8, stride=2)
    numbers = ok(client.get("/api/explain/test/11/occlusion?target=ship"))
    np.testing.assert_allclose(numbers["map"], prob[0], atol=1e-6)
    for i, j in ((0, 0), (3, 7), (12, 12)):
        r = ok(client.get(f"/api/occlude/test/11?target=ship&y={2 * i}&x={2 * j}&size=8"))
        assert r["probability"] == pytest.approx(prob[0, i, j], rel=1e-4, abs=1e-7)
        assert r["base"] == pytest.approx(base[0], rel=1e-5)   # a batch of 2, not 1
    refused(client.get("/api/occlude/test/11?target=ship&y=25&x=0"), 400, "0..24")
    refused(client.get("/api/occlude/test/11?target=ship&y=up"), 400, "y")
    ok(client.get("/api/explain/test/11/occlusion.png?target=ship&size=6&stride=3"), "image/png")


def test_randomised_weights_change_the_maps_as_the_sanity_check_says(client, explorer):
    trained = ok(client.get("/api/explain/test/12/guided.png?target=cat"), "image/png")
    random = ok(client.get("/api/explain/test/12/guided.png?target=cat&randomized=conv3"),
                "image/png")
    assert not np.array_equal(trained, random)
    steps, _, similarity = V.sanity_check(explorer.model, x_of(explorer, 12), 3, methods=["guided"])
    answer = ok(client.get("/api/sanity/test/12?method=guided&target=cat"))
    assert answer["steps"] == steps
    np.testing.assert_allclose(answer["similarity"], similarity["guided"], rtol=1e-9)
    nets = dict(V.cascading_randomization(explorer.model))
    g = V.guided_backprop(nets["conv3"], x_of(explorer, 12), "cat")
    assert np.abs(random.astype(int) - decode_png(png_bytes(V.render_map(g, "rgb")[0]))).max() <= 1
    refused(client.get("/api/explain/test/12/guided?target=cat&randomized=conv9"), 404,
            "conv9", "trained, fc2")
    refused(client.get("/api/sanity/test/12?method=occlusion&target=cat"), 404, "occlusion")


@pytest.mark.parametrize("path, status, fragments", [
    ("/api/explain/test/1/shap?target=cat", 404, ["shap", "saliency"]),
    ("/api/explain/test/1/smoothgrad?target=cat&rule=leaky", 404, ["leaky", "normal"]),
    ("/api/explain/test/1/guided?target=unicorn", 404, ["unicorn", "classes are"]),
    ("/api/explain/test/1/guided?target=10", 404, ["10", "0..9"]),
    ("/api/explain/test/1/guided?target=conv9:1", 404, ["conv9"]),
    ("/api/explain/test/1/guided?target=fc2:10", 404, ["0..9"]),
    ("/api/explain/test/1/guided?target=cat&render=jet", 404, ["jet"]),
    ("/api/explain/test/1/gradcam?target=cat&layer=conv9", 404, ["conv9"]),
    ("/api/explain/test/1/smoothgrad?target=cat&n=0", 400, ["n must be in 1..200"]),
    ("/api/explain/test/1/occlusion?target=cat&size=40", 400, ["size"]),
    ("/api/explain/test/99999/guided?target=cat", 404, ["99999"]),
    ("/api/predict/test/-3", 404, ["-3"]),
    ("/api/predict/test/x1", 404, ["x1"]),
    ("/api/nothing/here", 404, ["Not Found"]),
])
def test_bad_explanations_get_a_4xx_with_a_message(client, path, status, fragments):
    refused(client.get(path), status, *fragments)


# ------------------------------------------------------------------ class models

def events(text):
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines.get("event", "message"), json.loads(lines["data"])))
    return out


def test_the_class_model_streams_and_ends_with_class_models_image(client, explorer):
    query = "target=frog&steps=25&l2=0.02&blur=0.5&jitter=2&clip_norm=10&clip_range=1"
    with client.stream("GET", f"/api/classmodel?{query}") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response.read().decode())
    assert [e[0] for e in stream] == ["message"] * 4 + ["done"]
    assert [e[1]["step"] for e in stream[:-1]] == [5, 10, 20, 25]
    x, history = V.class_model(explorer.model, "frog", steps=25, l2=0.02, blur_sigma=0.5,
                               blur_every=4, jitter=2, clip_norm=10.0, return_history=True)
    last = stream[-2][1]
    assert last["objective"] == pytest.approx(float(history[-1, 0]), rel=1e-5)
    assert last["probability"] == pytest.approx(float(V.probabilities(explorer.model, x)[0, 6]),
                                                rel=1e-4)
    image = decode_png(base64.b64decode(last["png"].split(",", 1)[1]))
    expected = decode_png(png_bytes(V.to_rgb(x, explorer.mean, explorer.std)[0]))
    assert np.abs(image.astype(int) - expected).max() <= 1
    final = ok(client.get(f"/api/classmodel.png?{query}"), "image/png")
    assert np.array_equal(final, image)


def test_a_units_optimised_image_and_bad_class_model_settings(client):
    ok(client.get("/api/classmodel.png?target=conv4:17&steps=10"), "image/png")
    refused(client.get("/api/classmodel?target=cat&steps=5000"), 400, "steps", "1..500")
    refused(client.get("/api/classmodel?target=cat&l2=much"), 400, "l2")
    refused(client.get("/api/classmodel?target=unicorn"), 404, "unicorn")


# ------------------------------------------------------------------ uploads

def test_an_uploaded_image_is_explained_like_a_file(client, explorer, tmp_path):
    pixels = np.random.default_rng(3).integers(0, 256, (45, 60, 3), dtype=np.uint8)
    body = png_file(pixels)
    key = ok(client.post("/api/upload", content=body, headers={"content-type": "image/png"}))
    assert key["source"] == "upload"
    (tmp_path / "up.png").write_bytes(body)
    x = V.to_input(V.load_image(tmp_path / "up.png")[None], explorer.mean, explorer.std)
    p = ok(client.get(f"/api/predict/upload/{key['id']}"))
    np.testing.assert_allclose(p["probabilities"], V.probabilities(explorer.model, x)[0], rtol=1e-6)
    assert p["label"] is None
    ok(client.get(f"/api/explain/upload/{key['id']}/guided.png?target=cat"), "image/png")
    # the same file as a multipart form gets the same key
    form = ok(client.post("/api/upload", files={"file": ("up.png", body, "image/png")}))
    assert form == key


def png_header_only(width, height):
    """A PNG that claims width x height pixels and holds almost none: a decompression bomb's
    header (Pillow reads the size without decoding anything)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("body, fragments", [
    (b"", ["empty"]),
    (b"hello, I am not an image at all", ["not an image"]),
    (b"%PDF-1.4\n" + bytes(2000), ["not an image"]),
    (png_header_only(100_000, 100_000), ["refused", "pixels"]),     # Pillow's bomb error
    (png_header_only(10_000, 9_000), ["decompression bomb", "90,000,000"]),   # its warning
    (png_header_only(7_000, 7_000), ["decompression bomb"]),        # over our own limit
    (png_file(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))[:2000],
     ["cannot be decoded"]),                                         # cut short
], ids=["empty", "text", "pdf", "bomb-error", "bomb-warning", "over-our-limit", "truncated"])
def test_a_bad_upload_gets_400_with_a_message(client, body, fragments):
    refused(client.post("/api/upload", content=body), 400, *fragments)


def test_an_upload_over_10_mb_gets_413(client):
    big = bytes(MAX_UPLOAD + 1)
    refused(client.post("/api/upload", content=big), 413, "10 MB")

    def chunks():                              # no Content-Length: counted as it arrives
        for _ in range(11):
            yield bytes(1024 * 1024)
    refused(client.post("/api/upload", content=chunks()), 413, "10 MB")
    ok(client.get("/api/info"))                # and the server goes on


def test_a_form_without_a_file_is_400(client):
    refused(client.post("/api/upload", data={"name": "cat"},
                        headers={"content-type": "application/x-www-form-urlencoded"}), 400,
            "not an image")
    refused(client.post("/api/upload", files={"text": (None, "just a field")}), 400, "no file")


# ------------------------------------------------------------------ failures and hosts

def test_a_failing_request_is_a_500_and_the_server_goes_on(explorer):
    app = create_app(explorer)

    def broken(request):
        raise RuntimeError("something inside broke")
    app.router.routes.append(Route("/api/broken", broken))
    with TestClient(app, raise_server_exceptions=False) as client:
        refused(client.get("/api/broken"), 500, "internal error", "something inside broke")
        assert ok(client.get("/api/predict/test/1"))["predicted"]
        refused(client.get("/api/broken"), 500, "RuntimeError")
        ok(client.get("/api/info"))


def test_on_loopback_only_loopback_host_names_are_answered(explorer):
    app = create_app(explorer, allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        ok(client.get("/api/info"))
        assert client.get("/api/info", headers={"host": "evil.example:8000"}).status_code == 400


# ------------------------------------------------------------------ the index on disk

def test_the_index_is_cached_once_per_weights_and_images(explorer, tmp_path):
    images = explorer.images[:50]
    tops, path, cached = top9_index(explorer.model, images, ["conv2", "fc1"], cache_dir=tmp_path)
    assert not cached and path.is_file() and path.parent == tmp_path / "explore"
    assert [p.name for p in path.parent.iterdir()] == [path.name]      # no temporary left
    again, path2, cached = top9_index(explorer.model, images, ["conv2", "fc1"], cache_dir=tmp_path)
    assert cached and path2 == path
    for layer in ("conv2", "fc1"):
        for a, b in zip(tops[layer], again[layer]):
            assert np.array_equal(a, b)
    other, path3, cached = top9_index(explorer.randomized["fc1"], images, ["conv2", "fc1"],
                                      cache_dir=tmp_path)
    assert not cached and path3 != path                               # other weights
    _, path4, cached = top9_index(explorer.model, images[:40], ["conv2", "fc1"], cache_dir=tmp_path)
    assert not cached and path4 not in (path, path3)                  # other images
    path.write_bytes(b"half a file")                                  # damaged: computed again
    fixed, _, cached = top9_index(explorer.model, images, ["conv2", "fc1"], cache_dir=tmp_path)
    assert not cached and np.array_equal(fixed["conv2"].index, tops["conv2"].index)


def test_the_second_explorer_reads_the_index_back(explorer):
    second = make_explorer(explorer.index_path.parent.parent)
    assert second.index_cached and second.index_path == explorer.index_path
    assert np.array_equal(second.index["conv4"].value, explorer.index["conv4"].value)


# ------------------------------------------------------------------ several tabs at once

def test_requests_at_once_with_different_rules_get_their_own_answers(explorer):
    """Eight threads ask a real server for maps under the three rules at once; every answer
    is the one the Python API gives for that rule alone."""
    import httpx2 as httpx
    expected = {}
    for method, rule in (("saliency", "normal"), ("guided", "guided"), ("deconv", "deconv")):
        for i in range(6):
            g = V.gradient(explorer.model, x_of(explorer, i), "dog", rule=rule)
            expected[method, i] = decode_png(png_bytes(V.render_map(g, "rgb")[0]))
    jobs = list(expected) * 2

    def ask(job):
        method, i = job
        with httpx.Client(base_url=server.url, timeout=60) as http:
            response = http.get(f"/api/explain/test/{i}/{method}.png?target=dog&render=rgb")
        return job, response

    server = ThreadedServer(create_app(explorer))
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, jobs))
    finally:
        server.stop()
    for (method, i), response in answers:
        assert response.status_code == 200, response.text
        assert np.abs(decode_png(response.content).astype(int) - expected[method, i]).max() <= 1, \
            (method, i)


def test_answers_on_a_kept_alive_connection_do_not_wait_for_an_ack(explorer):
    """The server's socket is a TCP one, so asyncio sets TCP_NODELAY on its connections;
    with a plain socket every answer after the first on a connection took ~40 ms longer."""
    import http.client
    import time
    server = ThreadedServer(create_app(explorer))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        seconds = []
        for _ in range(8):
            start = time.perf_counter()
            connection.request("GET", "/static/app.css")
            connection.getresponse().read()
            seconds.append(time.perf_counter() - start)
        connection.close()
    finally:
        server.stop()
    assert np.median(seconds[1:]) < 0.02, seconds


# ------------------------------------------------------------------ the command line

def test_the_command_prints_its_url_binds_loopback_and_serves():
    import httpx2 as httpx
    proc = subprocess.Popen([sys.executable, "-m", "minicnn.explore", "--port", "0",
                             "--images", "40"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        url = None
        for line in proc.stdout:
            if "serving on " in line:
                url = line.split("serving on ", 1)[1].split()[0]
                break
        assert url is not None and url.startswith("http://127.0.0.1:"), url
        info = httpx.get(url + "api/info", timeout=30).json()
        assert info["images"] == 40 and info["model"] == "reference_net"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_host_other_than_loopback_is_warned_about():
    from minicnn.explore.cli import is_loopback
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    out = subprocess.run([sys.executable, "-m", "minicnn.explore", "--host", "0.0.0.0",
                          "--port", "70000", "--images", "5"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert "warning: listening on 0.0.0.0" in out.stderr
    assert "--port must be in 0..65535" in out.stderr


def test_minicnn_explore_is_a_subcommand_whose_bad_input_is_one_line():
    """`minicnn explore` (minicnn/cli.py) takes the global options too, and a model that
    does not load or a port out of range is one line and exit status 2, no traceback."""
    for argv in (["explore", "--port", "70000"], ["explore", "--plain", "--model", "nowhere.npz"]):
        out = subprocess.run([sys.executable, "-m", "minicnn.cli", *argv], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("minicnn explore: error:"), out.stderr
