"""Peak memory of training: the largest resident set (RSS) of a fresh process that builds the
reference net and runs a few training steps (forward, backward, SGD momentum) at batch 128.

    python benchmarks/peak_memory.py [--batch 128] [--steps 5] [--repeats 3] [--threads 2]

Each side runs in its own child process (this script with --child), which reports its own
peak, resource.getrusage(RUSAGE_SELF).ru_maxrss: once after import and set-up, once after
the steps. The peak after the steps is the figure (target <= 1.5 GB); the difference is
what the steps themselves add. minicnn's step is train_step.py's; with PyTorch installed
(pip install -e ".[bench]") a second child runs the same step in PyTorch, without
importing minicnn. Memory hardly varies between runs; the median of the repeats is shown.
"""
import argparse
import importlib.util
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, random_images, torch_or_none, torch_reference_net  # noqa: E402


def peak_mb():
    """This process's peak resident memory so far, in MB (ru_maxrss is in kB on Linux, in
    bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def minicnn_steps(batch, threads):
    from train_step import minicnn_step
    return minicnn_step(batch)[0]


def pytorch_steps(batch, threads):
    torch = torch_or_none(threads)
    net = torch_reference_net(torch)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(random_images(batch))
    y = torch.from_numpy(np.random.default_rng(0).integers(0, 10, batch))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return step


CHILDREN = {"minicnn": minicnn_steps, "pytorch": pytorch_steps}


def child(side, batch, steps, threads):
    """Run in the child process: set up, take `steps` steps, print both peaks as JSON."""
    step = CHILDREN[side](batch, threads)
    setup = peak_mb()
    for _ in range(steps):
        step()
    print(json.dumps({"setup": setup, "peak": peak_mb()}))


def measure(side, args):
    done = subprocess.run([sys.executable, __file__, "--child", side, "--batch", str(args.batch),
                           "--steps", str(args.steps), "--threads", str(args.threads)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"peak_memory: the {side} child failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.batch, args.steps, args.threads)

    sides = ["minicnn"] + (["pytorch"] if importlib.util.find_spec("torch") else [])
    runs = {side: [] for side in sides}
    for _ in range(args.repeats):                    # alternate, like the timings
        for side in sides:
            runs[side].append(measure(side, args))

    print(f"peak memory (RSS) of {args.steps} training steps, reference net, batch {args.batch} "
          f"({machine()})")
    for side, results in runs.items():
        peak = np.array([r["peak"] for r in results])
        setup = np.median([r["setup"] for r in results])
        target = "   target <= 1536 MB" if side == "minicnn" else ""
        print(f"  {side:<8} {np.median(peak):7.0f} MB  (min {peak.min():.0f}, "
              f"max {peak.max():.0f}; {setup:.0f} MB after set-up){target}")
    if "pytorch" not in runs:
        print("  pytorch  not installed (pip install -e '.[bench]' to compare)")
    else:
        ratio = np.median([r["peak"] for r in runs["minicnn"]]) / np.median(
            [r["peak"] for r in runs["pytorch"]])
        print(f"  ratio    minicnn's peak is {ratio:.2f}x PyTorch's (<1 means minicnn uses less)")


if __name__ == "__main__":
    main()
