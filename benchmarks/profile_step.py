"""Where one training step of the reference net spends its time, op by op.

    python benchmarks/profile_step.py [--batch 128] [--steps 8]

Runs cProfile over a few steps and prints, for every op's forward and backward
and every numba kernel, the time per step (cumulative: a conv's forward
includes its im2col). cProfile sees only the calling thread, which works the
first share of every op (fast/parallel.py): the kernel rows are that share's.
A diagnostic for the speed work, not a comparison.
"""
import argparse
import cProfile
import pstats
import time

import numpy as np

import minicnn
from minicnn import functional as F


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    model = minicnn.models.reference_net()
    opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(minicnn.Tensor(x)), y).backward()
        opt.step()

    for _ in range(3):                                   # compile and warm up
        step()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(args.steps):
        step()
    profiler.disable()
    per_step = (time.perf_counter() - start) / args.steps

    rows = []
    for (path, _, name), (_, _, _, cumulative, _) in pstats.Stats(profiler).stats.items():
        is_kernel = "minicnn/fast/kernels/" in path
        is_op = "minicnn/ops/" in path and name in ("forward", "backward")
        is_op = is_op or ("minicnn/fast/" in path and name.endswith(("_forward", "_backward")))
        if is_kernel or is_op:
            where = path.split("minicnn/")[-1]
            rows.append((cumulative / args.steps, f"{where}:{name}"))
    print(f"training step, reference net, batch {args.batch}: {per_step * 1e3:.0f} ms "
          f"(with profiling overhead)")
    for seconds, label in sorted(rows, reverse=True):
        if seconds * 1e3 >= 0.5:
            print(f"  {seconds * 1e3:8.1f} ms  {label}")


if __name__ == "__main__":
    main()
