"""What the explorer's tests share: a small test set, an Explorer on it, a real server.

The model is the shipped reference_net (the explorer exists to show it). The images are 300
of CIFAR-10's test images, spread over the split, when MINICNN_DATA points at a copy (as in
CI), else 300 random pictures written by the test itself, so the tests run anywhere.
"""
import io
import os
import socket
import threading
import time

import numpy as np
from PIL import Image

from minicnn.explore.cli import bind
from minicnn.explore.explorer import Explorer
from minicnn.models import pretrained

N_IMAGES = 300


def small_test_set():
    """(images (300, 3, 32, 32) uint8, labels (300,) int64)."""
    if os.environ.get("MINICNN_DATA"):
        from minicnn.data import load_cifar10
        data = load_cifar10(progress=False)
        pick = np.linspace(0, len(data.test_x) - 1, N_IMAGES).astype(int)
        return data.test_x[pick], data.test_y[pick]
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (N_IMAGES, 3, 32, 32), dtype=np.uint8),
            np.arange(N_IMAGES, dtype=np.int64) % 10)


def make_explorer(cache_dir):
    images, labels = small_test_set()
    return Explorer(pretrained(), images, labels, name="reference_net", cache_dir=cache_dir)


class ThreadedServer:
    """uvicorn serving `app` on a free loopback port, in a thread of this process."""

    def __init__(self, app):
        import uvicorn
        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the explorer's server did not start")
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def png_file(pixels):
    """An (H, W, 3) uint8 array as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(body):
    """PNG bytes -> an (H, W, ...) uint8 array."""
    return np.asarray(Image.open(io.BytesIO(body)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
