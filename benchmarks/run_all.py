"""Run every benchmark script in turn and print their output, for filling the README's
table in one go.

    python benchmarks/run_all.py [--quick] [--threads 2] [--data PATH] [--isa avx2] [names ...]

Each script runs in its own process with its default settings (on a quiet machine this
takes a while: the top-9 scan alone goes over the 10,000 test images a few times).
--quick uses small settings that only check that every script works; its figures mean
little. Names (e.g. `inference occlusion`) pick benchmarks; default all, in the issue's order
(train_step_residual, train_step_vgg_bn: those nets' training steps, batch 512).
--isa avx2 runs every script without AVX-512 (numba, NumPy's OpenBLAS and PyTorch alike;
common.avx2_only), to measure on an AVX-512 machine what an AVX2 machine would run.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from common import avx2_only  # noqa: E402

# name: (script, its settings, the settings --quick adds)
RUNS = {
    "train_step": ("train_step", [], ["--repeats", "3"]),
    "train_step_residual": ("train_step", ["--model", "residual_net", "--batch", "512",
                                           "--repeats", "7"], ["--batch", "64", "--repeats", "2"]),
    "train_step_vgg_bn": ("train_step", ["--model", "vgg_bn_net", "--batch", "512",
                                         "--repeats", "7"], ["--batch", "64", "--repeats", "2"]),
    "inference": ("inference", [], ["--repeats", "3"]),
    "gradient_maps": ("gradient_maps", [], ["--repeats", "3"]),
    "occlusion": ("occlusion", [], ["--repeats", "3"]),
    "top9_scan": ("top9_scan", [], ["--repeats", "1", "--limit", "1000"]),
    "class_model_step": ("class_model_step", [], ["--repeats", "3"]),
    "explain_methods": ("explain_methods", [], ["--repeats", "3", "--batch", "1", "8"]),
    "startup": ("startup", [], ["--repeats", "1"]),
    "peak_memory": ("peak_memory", [], ["--repeats", "1", "--steps", "2"]),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*",
                        help=f"benchmarks to run: {', '.join(RUNS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small settings: a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--data", default=None, help="CIFAR-10 source for top9_scan")
    parser.add_argument("--isa", choices=["native", "avx2"], default="native",
                        help="avx2: run every script without AVX-512 instructions")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in RUNS]
    if unknown:
        parser.error(f"unknown benchmarks {', '.join(unknown)}; choose from {', '.join(RUNS)}")

    environment = dict(os.environ)
    if args.isa == "avx2":
        environment.update(avx2_only())
    failed = []
    for name in args.names or RUNS:
        script, settings, quick = RUNS[name]
        command = [sys.executable, str(HERE / f"{script}.py"), "--threads", str(args.threads)]
        command += settings + (quick if args.quick else [])
        command += ["--data", args.data] if script == "top9_scan" and args.data else []
        print(f"$ {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        if subprocess.run(command, env=environment).returncode != 0:
            failed.append(name)
        print(f"  ({time.perf_counter() - start:.0f} s)\n", flush=True)
    if failed:
        raise SystemExit(f"run_all: failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
