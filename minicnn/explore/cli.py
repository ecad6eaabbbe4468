"""`minicnn explore [--model M] [--data PATH] [--host 127.0.0.1] [--port 8000] [--open]`.

add_explore_command(subparsers) registers the command with an argparse parser (minicnn's own
command line, or `python -m minicnn.explore`); run(args) loads the model and the test
images, builds or reads the top-9 index, prints the URL and serves until Ctrl-C. Nothing
here imports Starlette or uvicorn until the command runs, so minicnn's command line works
without the `explore` extra installed.
"""
import ipaddress
import socket
import sys
import threading
import time
import webbrowser

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


def add_explore_command(subparsers):
    """Add the `explore` command to an argparse subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "explore", help="the lecture's pictures, live in the browser (a local web app)",
        description="Start a local web app to click through a net: images, layers, units, "
                    "gradient maps, Grad-CAM, occlusion, class models, sanity checks.")
    add_explore_options(p)
    p.set_defaults(run=run)
    return p


def add_explore_options(p):
    p.add_argument("--model", default="reference_net",
                   help="a shipped model's name or a checkpoint path (default %(default)s)")
    p.add_argument("--data", default=None,
                   help="CIFAR-10 source for the test images (default: the embedded sample "
                        "where there is one, else $MINICNN_DATA, the cache, then the download)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=8000,
                   help="port to listen on (default %(default)s; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument("--images", type=int, default=None, metavar="N",
                   help="use only N test images, spread evenly over the test split and numbered "
                        "0..N-1 (a quick start, for tests)")


def run(args):
    """Serve the explorer until interrupted. Returns the exit code."""
    try:
        import uvicorn

        from minicnn.explore.server import create_app
    except ImportError as error:
        print(f"minicnn explore: needs the explore extra ({error.name} is missing): "
              f'pip install "minicnn[explore]"', file=sys.stderr)
        return 2
    loopback = is_loopback(args.host)
    if not loopback:
        print(f"minicnn explore: warning: listening on {args.host}, so other machines can "
              f"reach this server; it has no login and computes for anyone who asks",
              file=sys.stderr)
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535 (0: any free port), got {args.port}")
    started = time.perf_counter()
    explorer = build_explorer(args.model, args.data, args.images)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    app = create_app(explorer, allowed_hosts=LOOPBACK_NAMES if loopback else None)
    index = "read from" if explorer.index_cached else "saved to"
    print(f"minicnn explore: {explorer.name}, {len(explorer.images)} test images, top-9 index "
          f"{index} {explorer.index_path} (ready in {time.perf_counter() - started:.1f} s)")
    print(f"minicnn explore: serving on {url}  (Ctrl-C to stop)", flush=True)
    if args.open:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def build_explorer(model="reference_net", data=None, images=None, cache_dir=None):
    """An Explorer for a model name or checkpoint and a data source (see explore/data.py)."""
    import numpy as np

    from minicnn.explore.data import test_images
    from minicnn.explore.explorer import Explorer
    from minicnn.models import open_model
    net = open_model(model)
    x, y = test_images(data)
    if images is not None:
        if images < 1:
            raise ValueError(f"--images must be at least 1, got {images}")
        # spread over the whole split (an image folder's test split is sorted by class)
        pick = np.unique(np.linspace(0, len(x) - 1, min(images, len(x))).astype(int))
        x, y = x[pick], y[pick]
    name = model if isinstance(model, str) and "/" not in model else str(model)
    return Explorer(net, x, y, name=name, cache_dir=cache_dir, progress=True)


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host, port):
    """A listening TCP socket on (host, port); port 0 picks a free port."""
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose socket
    # says so, and without it every answer on a kept-alive connection waited ~40 ms for an ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(128)
    return sock
