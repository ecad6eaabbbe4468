"""The explorer end to end: headless Chromium (Playwright) against the real server.

The server is uvicorn in a thread of this process, on a free loopback port, serving an
Explorer over 300 test images. The browser is the system's Chromium (Debian's `chromium`
package, which .ci/run installs; MINICNN_CHROMIUM names another binary): Playwright's own
browser download needs an internet connection that CI does not have. Where no Chromium is
found these tests are skipped, except in CI (CI=true), where that is a failure.

The first test also saves the page's screenshot to docs/explore.png, the README's picture.
"""
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("playwright")
pytest.importorskip("uvicorn")

from explore_helpers import ThreadedServer, make_explorer, png_file  # noqa: E402
from minicnn import visualize as V  # noqa: E402
from minicnn.explore.server import create_app  # noqa: E402

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "explore.png"


def chromium():
    """The Chromium binary to drive, or None."""
    named = os.environ.get("MINICNN_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, with the system's Chromium."""
    path = chromium()
    if path is None:
        message = ("no Chromium found: apt-get install chromium, or set MINICNN_CHROMIUM "
                   "to a Chromium binary")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": path}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    return make_explorer(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def server(explorer):
    server = ThreadedServer(create_app(explorer, allowed_hosts=["127.0.0.1"]))
    yield server
    server.stop()


@pytest.fixture
def console(page):
    """The page's console errors and uncaught exceptions, as they come."""
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def open_page(page, server, hash):
    page.goto(f"{server.url}/{hash}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("document.body.dataset.route === location.hash")   # drawn


def pictures_render(page):
    """Every visible picture has been decoded and has a size (a broken one has none)."""
    script = """() => [...document.querySelectorAll('img')]
        .filter(img => img.offsetParent !== null && img.getAttribute('src'))
        .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
        .map(img => img.id || img.alt)"""
    page.wait_for_function(f"({script})().length === 0", timeout=20_000)
    shown = page.evaluate("""() => [...document.querySelectorAll('img, canvas')]
        .filter(e => e.offsetParent !== null).length""")
    assert shown > 0
    canvases = page.evaluate("""() => [...document.querySelectorAll('canvas')]
        .filter(c => c.offsetParent !== null && !(c.width > 0 && c.height > 0)).length""")
    assert canvases == 0


def bars(page):
    """The probability bars: {class: the number shown}."""
    rows = page.eval_on_selector_all(
        "#bars .bar", "rows => rows.map(r => [r.dataset.class, r.querySelector('.p').textContent])")
    return {name: float(text) for name, text in rows}


def assert_bars_match(page, explorer, source, id):
    p = explorer.probabilities(source, id)
    shown = bars(page)
    assert list(shown) == list(explorer.classes)
    np.testing.assert_allclose(list(shown.values()), p, atol=0.0005 + 1e-9)


def test_the_page_loads_with_no_console_errors(page, server, explorer, console):
    open_page(page, server, "#/image/test/4")
    page.wait_for_selector(".layer canvas[data-layer='conv4']")
    pictures_render(page)
    assert_bars_match(page, explorer, "test", "4")
    assert page.locator("#view-layers").is_visible()
    # hover a conv3 unit: its value, and its receptive field on the image
    tile = page.locator("canvas[data-layer='conv3'][data-channel='5']")
    tile.scroll_into_view_if_needed()
    box = tile.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5 + 1, box["y"] + box["height"] * 0.5 + 1)
    text = page.inner_text("#hover-info")
    y, x, value = re.search(r"conv3 channel 5 at \(y (\d+), x (\d+)\): (-?[\d.]+)", text).groups()
    a = explorer.activations("test", "4")["conv3"][5, int(y), int(x)]
    assert float(value) == pytest.approx(float(a), abs=1e-4)
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert console == []


def test_pick_an_image_click_a_unit_switch_the_rule(page, server, explorer, console):
    open_page(page, server, "#/image/test/0")
    cats, _ = explorer.test_indices("cat", count=3)
    page.select_option("#class-select", "cat")
    page.click(f"#thumbs img[data-id='{cats[1]}']")
    page.wait_for_url(f"**#/image/test/{cats[1]}")
    page.wait_for_function(f"document.getElementById('caption').textContent.includes('test image {cats[1]},')")
    assert_bars_match(page, explorer, "test", str(cats[1]))
    # by index, and at random
    page.fill("#index-input", "42")
    page.click("#show-index")
    page.wait_for_url("**#/image/test/42")
    page.wait_for_function("document.getElementById('caption').textContent.includes('test image 42,')")
    assert_bars_match(page, explorer, "test", "42")
    page.click("#random")
    page.wait_for_url(re.compile(r"#/image/test/(?!42$)\d+$"))
    # click a unit
    page.click("canvas[data-layer='conv4'][data-channel='17']")
    page.wait_for_url("**#/unit/conv4/17")
    page.wait_for_function("document.getElementById('unit-value').dataset.value !== undefined")
    image_id = page.evaluate("document.getElementById('caption').textContent.match(/test image (\\d+)/)[1]")
    expected = explorer.unit_value("conv4", 17, "test", image_id)
    assert float(page.get_attribute("#unit-value", "data-value")) == pytest.approx(expected["value"], rel=1e-6)
    pictures_render(page)
    items = page.locator("#unit-list li").all_inner_texts()
    top = explorer.unit_top("conv4", 17)
    assert [int(re.search(r"test image (\d+)", t).group(1)) for t in items] == [t["index"] for t in top]
    # explain it, then switch between the three ReLU rules
    page.click("#unit-explain")
    page.wait_for_url(f"**#/image/test/{image_id}/guided?target=conv4%3A17")
    for rule, method in (("normal", "saliency"), ("deconv", "deconv"), ("guided", "guided")):
        page.click(f"#rules button[data-rule='{rule}']")
        page.wait_for_url(re.compile(f"/{method}\\?target=conv4%3A17$"))
        page.wait_for_function(f"document.getElementById('explain-caption').textContent.includes('rule {rule}')")
        assert f"/{method}.png" in page.get_attribute("#explain-map", "src")
        pictures_render(page)
    score = explorer.score("test", image_id, ("conv4", 17))["value"]
    assert float(page.get_attribute("#explain-numbers", "data-score")) == pytest.approx(score, rel=1e-6)
    assert console == []


def test_upload_an_image_then_a_non_image(page, server, explorer, console, tmp_path):
    open_page(page, server, "#/image/test/0")
    pixels = np.random.default_rng(5).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    body = png_file(pixels)
    # drag and drop a file onto the drop zone
    transfer = page.evaluate_handle("""bytes => {
        const t = new DataTransfer();
        t.items.add(new File([new Uint8Array(bytes)], 'photo.png', {type: 'image/png'}));
        return t; }""", list(body))
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    page.wait_for_url(re.compile(r"#/image/upload/[0-9a-f]{12}$"))
    key = page.url.rsplit("/", 1)[1]
    page.wait_for_function("document.getElementById('caption').textContent.includes('your upload')")
    (tmp_path / "photo.png").write_bytes(body)
    x = V.to_input(V.load_image(tmp_path / "photo.png")[None], explorer.mean, explorer.std)
    np.testing.assert_allclose(list(bars(page).values()), V.probabilities(explorer.model, x)[0],
                               atol=0.0005 + 1e-9)
    assert np.array_equal(explorer.pixels("upload", key), V.load_image(tmp_path / "photo.png"))
    pictures_render(page)
    assert console == []
    # a file that is no image: a message, and the page stays where it was
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                          "buffer": b"this is not an image"}])
    page.wait_for_function("document.getElementById('upload-error').textContent.length > 0")
    assert "not an image" in page.inner_text("#upload-error")
    assert page.url.endswith(f"#/image/upload/{key}")
    assert all("400" in message for message in console)       # only the refused upload
    # and an image file through the file chooser
    page.set_input_files("#file", files=[{"name": "again.png", "mimeType": "image/png",
                                          "buffer": png_file(pixels[::-1].copy())}])
    page.wait_for_url(re.compile(rf"#/image/upload/(?!{key})[0-9a-f]{{12}}$"))
    page.wait_for_function("document.getElementById('upload-error').textContent === ''")


def test_follow_urls_to_every_view(page, server, explorer, console):
    open_page(page, server, "#/image/test/7/gradcam?target=cat")
    assert page.locator("#methods button.active").inner_text() == "Grad-CAM"
    page.wait_for_function("document.getElementById('explain-numbers').dataset.score !== undefined")
    p = explorer.score("test", "7", 3)["probability"]
    assert float(page.get_attribute("#explain-numbers", "data-score")) == pytest.approx(p, rel=1e-6)
    pictures_render(page)

    open_page(page, server, "#/unit/conv1/3")
    assert page.locator("#unit-weights").is_visible()
    pictures_render(page)
    assert page.evaluate("document.getElementById('unit-weights').naturalWidth") == 3

    # the occlusion square, dragged over the image
    open_page(page, server, "#/image/test/7/occlusion?target=ship")
    page.wait_for_function("document.getElementById('occlusion-info').dataset.probability !== undefined")
    stage = page.locator("#overlay").bounding_box()
    page.mouse.move(stage["x"] + 60, stage["y"] + 60)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(stage["x"] + 60 + 14 * step, stage["y"] + 60 + 9 * step)
    page.mouse.up()
    # the answer for where the square was dropped (requests in flight finish first)
    page.wait_for_function("""() => {
        const m = document.getElementById('occlusion-info').textContent.match(/at \\(y (\\d+), x (\\d+)\\)/);
        return m && (m[1] !== '12' || m[2] !== '12'); }""")
    page.wait_for_timeout(300)
    text = page.inner_text("#occlusion-info")
    y, x = map(int, re.search(r"at \(y (\d+), x (\d+)\)", text).groups())
    assert (y, x) != (12, 12)
    expected = explorer.occlude("test", "7", 8, y, x)["probability"]
    assert float(page.get_attribute("#occlusion-info", "data-probability")) == pytest.approx(expected, rel=1e-4)
    pictures_render(page)

    # the sanity check: randomised from the top down to conv3
    open_page(page, server, "#/image/test/7/guided?target=cat&randomized=conv3")
    assert page.is_checked("#sanity-on")
    page.wait_for_function("document.getElementById('explain-numbers').textContent.includes('Spearman')")
    shown = float(re.search(r"Spearman rank correlation .*: (-?[\d.]+)",
                            page.inner_text("#explain-numbers")).group(1))
    similarity = explorer.sanity("test", "7", "guided", 3)["similarity"][4]     # conv3's step
    assert shown == pytest.approx(similarity, abs=0.0005 + 1e-9)
    page.uncheck("#sanity-on")
    page.wait_for_url(re.compile(r"guided\?target=cat$"))
    pictures_render(page)

    # a class model, its picture arriving while the ascent runs
    open_page(page, server, "#/classmodel/bird")
    page.wait_for_function("document.getElementById('cm-progress').textContent.includes('(done)')",
                           timeout=30_000)
    assert page.get_attribute("#cm-image", "src").startswith("data:image/png;base64,")
    assert "step 120 of 120" in page.inner_text("#cm-progress")
    pictures_render(page)
    assert console == []
