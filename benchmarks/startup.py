"""Start-up time: a fresh Python process that imports minicnn, builds the reference net and
runs one training step (forward, backward, SGD) on a batch of 128 random images.

    python benchmarks/startup.py [--repeats 3] [--threads 2]

The figure is the child process's whole wall time, interpreter start included: what a user
waits for. Each repeat runs the child twice with NUMBA_CACHE_DIR pointing at a new empty
folder: cold (numba compiles every kernel and writes its cache; target <= 30 s), then warm
(the same folder, so the kernels load from the cache; target <= 3 s). Python's own .pyc
files and the OS file cache are warm in both. The child also reports how the time splits
between import, building the net and the step. With PyTorch installed (pip install -e
".[bench]") a third child does the same in PyTorch (import torch, build, one step).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, spread, torch_or_none  # noqa: E402

import minicnn  # noqa: E402

MINICNN_CHILD = """
import time
start = time.perf_counter()
import json
import numpy as np
import minicnn
from minicnn import functional as F
imported = time.perf_counter()
model = minicnn.models.reference_net()
opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
built = time.perf_counter()
rng = np.random.default_rng(0)
x = rng.standard_normal((128, 3, 32, 32)).astype(np.float32)
y = rng.integers(0, 10, 128)
F.cross_entropy(model(minicnn.Tensor(x)), y).backward()
opt.step()
end = time.perf_counter()
print(json.dumps({"import": imported - start, "build": built - imported, "step": end - built}))
"""

TORCH_CHILD = """
import sys
import time
start = time.perf_counter()
import json
import torch
torch.set_num_threads(int(sys.argv[1]))
imported = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from common import torch_reference_net
net = torch_reference_net(torch)
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
built = time.perf_counter()
x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
torch.nn.functional.cross_entropy(net(x), y).backward()
opt.step()
end = time.perf_counter()
print(json.dumps({"import": imported - start, "build": built - imported, "step": end - built}))
"""


def run_child(code, env, *args):
    """-> (wall seconds of the whole child process, its own {phase: seconds})."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"startup: the child process failed:\n{done.stderr}")
    return wall, json.loads(done.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    args = parser.parse_args()

    # the child imports the same minicnn as this script
    root = str(Path(minicnn.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    has_torch = torch_or_none(args.threads) is not None
    walls = {"cold": [], "warm": []} | ({"pytorch": []} if has_torch else {})
    phases = {name: [] for name in walls}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="minicnn-numba-cache-") as cache:
            for name in ("cold", "warm"):
                wall, split = run_child(MINICNN_CHILD, {**env, "NUMBA_CACHE_DIR": cache})
                walls[name].append(wall)
                phases[name].append(split)
        if has_torch:
            wall, split = run_child(TORCH_CHILD, env, str(args.threads),
                                    str(Path(__file__).parent))
            walls["pytorch"].append(wall)
            phases["pytorch"].append(split)

    print(f"start-up: fresh process, import, build the reference net, one training step of "
          f"batch 128 ({machine()})")
    targets = {"cold": "target <= 30 s", "warm": "target <= 3 s", "pytorch": ""}
    for name, t in walls.items():
        split = ", ".join(f"{phase} {np.median([s[phase] for s in phases[name]]):.2f} s"
                          for phase in phases[name][0])
        print(f"  {name:<8} {spread(np.array(t))}   {targets[name]:<15} ({split})")
    if not has_torch:
        print("  pytorch  not installed (pip install -e '.[bench]' to compare)")
    else:
        ratio = np.median(walls["pytorch"]) / np.median(walls["warm"])
        print(f"  ratio    warm start {ratio:.2f}x PyTorch's speed "
              f"(>1 means minicnn starts faster)")


if __name__ == "__main__":
    main()
