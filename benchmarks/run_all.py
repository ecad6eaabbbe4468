"""Run every benchmark script in turn and print their output, for filling the README's
table in one go.

    python benchmarks/run_all.py [--quick] [--threads 2] [--data PATH] [names ...]

Each script runs in its own process with its default settings (on a quiet machine this
takes a while: the top-9 scan alone goes over the 10,000 test images a few times).
--quick uses small settings that only check that every script works; its figures mean
little. Names (e.g. `inference occlusion`) pick scripts; default all, in the issue's order.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

# script: the settings --quick uses
SCRIPTS = {
    "train_step": ["--repeats", "3"],
    "inference": ["--repeats", "3"],
    "gradient_maps": ["--repeats", "3"],
    "occlusion": ["--repeats", "3"],
    "top9_scan": ["--repeats", "1", "--limit", "1000"],
    "class_model_step": ["--repeats", "3"],
    "explain_methods": ["--repeats", "3", "--batch", "1", "8"],
    "startup": ["--repeats", "1"],
    "peak_memory": ["--repeats", "1", "--steps", "2"],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*",
                        help=f"scripts to run: {', '.join(SCRIPTS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small settings: a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads")
    parser.add_argument("--data", default=None, help="CIFAR-10 source for top9_scan")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in SCRIPTS]
    if unknown:
        parser.error(f"unknown scripts {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")

    failed = []
    for name in args.names or SCRIPTS:
        command = [sys.executable, str(HERE / f"{name}.py"), "--threads", str(args.threads)]
        command += SCRIPTS[name] if args.quick else []
        command += ["--data", args.data] if name == "top9_scan" and args.data else []
        print(f"$ {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        if subprocess.run(command).returncode != 0:
            failed.append(name)
        print(f"  ({time.perf_counter() - start:.0f} s)\n", flush=True)
    if failed:
        raise SystemExit(f"run_all: failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
