"""The README's "Explain a model trained in PyTorch", run as written, then checked: a net
trained in PyTorch, saved with safetensors, and explained by minicnn gives the numbers
PyTorch gives. Needs PyTorch (pip install -e ".[bench]"), safetensors, and CIFAR-10's
training images (MINICNN_DATA, or the download); the test suite has a round trip without
PyTorch (tests/test_safetensors.py).

    python benchmarks/torch_safetensors.py [--out DIR] [--reuse]

1. The section's Python block is written to DIR/train_in_pytorch.py and its shell block run
   line by line in DIR (all but `pip install`): the training in PyTorch, then minicnn's
   eval, explain and tour of mynet.safetensors. Each line's wall time is printed.
2. The same file opened by both: PyTorch (load_file into the same nn.Sequential) and minicnn
   (open_model). On the embedded sample's 1,000 test images: the logits, the saliency map
   (the gradient of the true class's logit) and guided backprop (in PyTorch: backward hooks
   that keep a ReLU's gradient only where it is positive), each as the largest difference
   relative to the largest entry, in float32 (also per image: the median, and how many
   images differ by more than 1e-4, where rounding moved a max-pool's argmax or a ReLU's
   sign) and in float64; and the share of the 10,000 test images both classify alike.
3. The other way: the shipped reference_net through `minicnn convert` into PyTorch, logits
   compared on the sample.
"""
import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, torch_reference_net  # noqa: E402

import minicnn  # noqa: E402
from minicnn.data import load_cifar10, load_sample  # noqa: E402
from minicnn.models import open_model  # noqa: E402
from minicnn.visualize import attribution  # noqa: E402
from minicnn.visualize.images import input_stats, to_input  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Explain a model trained in PyTorch"


def readme_blocks():
    """(the section's python block, its bash block), as text."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    section = text[start:text.index("\n## ", start + len(SECTION))]
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    bash = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return python, bash


def run_readme(out):
    python, bash = readme_blocks()
    (out / "train_in_pytorch.py").write_text(python, encoding="utf-8")
    for line in bash.splitlines():
        command = line.split("#")[0].strip()
        if not command or command.startswith("pip install"):
            continue
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        elif argv[0] == "minicnn":
            argv = [sys.executable, "-m", "minicnn.cli"] + argv[1:]
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=out, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"torch_safetensors: `{command}` failed:\n{done.stderr[-3000:]}")
        last = [t for t in done.stdout.strip().splitlines() if t.strip()][-1:]
        print(f"  {seconds:7.1f} s  {command}")
        for shown in ([t for t in done.stdout.splitlines() if "accuracy" in t or "epoch" in t]
                      or last):
            print(f"             {shown.strip()}")


def difference(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def per_image(a, b):
    """(N,) the largest difference of each image's map relative to its largest entry."""
    N = len(a)
    return (np.abs(a - b).reshape(N, -1).max(axis=1)
            / np.maximum(np.abs(b).reshape(N, -1).max(axis=1), 1e-30))


def compare(torch, net, model, x, y):
    """{name: (minicnn's, PyTorch's)} for the logits, saliency and guided backprop."""
    logits, saliency, guided = torch_maps(torch, net, x, y)
    with minicnn.no_grad():
        ours = model(minicnn.Tensor(x)).data
    return {"logits": (ours, logits),
            "saliency": (attribution.saliency(model, x, y), saliency),
            "guided backprop": (attribution.guided_backprop(model, x, y), guided)}


def torch_maps(torch, net, x, y):
    """PyTorch's logits, saliency and guided backprop of the true classes' logits."""
    def guided(module, grad_input, grad_output):       # max(dout, 0) * (x > 0)
        return (grad_input[0].clamp(min=0),)

    xt = torch.from_numpy(x).requires_grad_()
    logits = net(xt)
    (saliency,) = torch.autograd.grad(logits[torch.arange(len(y)), torch.from_numpy(y)].sum(), xt)
    hooks = [m.register_full_backward_hook(guided) for m in net if isinstance(m, torch.nn.ReLU)]
    xt = torch.from_numpy(x).requires_grad_()
    scores = net(xt)[torch.arange(len(y)), torch.from_numpy(y)].sum()
    (guided_map,) = torch.autograd.grad(scores, xt)
    for hook in hooks:
        hook.remove()
    return logits.detach().numpy(), saliency.numpy(), guided_map.numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="keep the files here (default: a temporary "
                                                    "folder)")
    parser.add_argument("--reuse", action="store_true",
                        help="skip step 1 if --out already holds mynet.safetensors")
    args = parser.parse_args()
    import torch
    from safetensors.torch import load_file
    torch.set_num_threads(2)

    print(f"Explain a model trained in PyTorch ({machine()}, PyTorch {torch.__version__})")
    with tempfile.TemporaryDirectory(prefix="minicnn-torch-") as temporary:
        out = Path(args.out or temporary)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "mynet.safetensors"
        if args.reuse and path.is_file():
            print(f"1. the README's section: reusing {path}")
        else:
            print(f"1. the README's section, run as written in {out}:")
            run_readme(out)

        print("2. mynet.safetensors opened by PyTorch and by minicnn, on the sample's 1,000 "
              "test images (largest difference / largest entry):")
        net = torch_reference_net(torch)
        net.load_state_dict(load_file(path))
        model = open_model(path)
        sample = load_sample()
        x = to_input(sample.test_x, *input_stats(model))                  # (1000, 3, 32, 32)
        y = sample.test_y
        f32 = compare(torch, net, model, x, y)
        f64 = compare(torch, net.double(), model.double(), x.astype(np.float64), y)
        print(f"  {'':<16} {'float32':>8} {'median/image':>13} {'images > 1e-4':>14} "
              f"{'float64':>9}")
        for name, (a, b) in f32.items():
            each = per_image(a, b)
            print(f"  {name:<16} {difference(a, b):8.1e} {np.median(each):13.1e} "
                  f"{int((each > 1e-4).sum()):>14} {difference(*f64[name]):9.1e}")
        net, model = net.float(), open_model(path)
        data = load_cifar10(progress=False)
        xt = to_input(data.test_x, *input_stats(model))
        with minicnn.no_grad(), torch.no_grad():
            same = np.sum(model(minicnn.Tensor(xt)).data.argmax(1)
                          == net(torch.from_numpy(xt)).numpy().argmax(1))
        print(f"  the same class for {same:,} of the {len(xt):,} test images")

        print("3. the shipped reference_net, converted for PyTorch:")
        subprocess.run([sys.executable, "-m", "minicnn.cli", "convert", "reference_net",
                        str(out / "ref.safetensors")], check=True, capture_output=True)
        shipped = open_model("reference_net")
        net = torch_reference_net(torch)
        net.load_state_dict(load_file(out / "ref.safetensors"))
        x = to_input(sample.test_x, *input_stats(shipped))
        with minicnn.no_grad(), torch.no_grad():
            print(f"  logits {difference(shipped(minicnn.Tensor(x)).data, net(torch.from_numpy(x)).numpy()):.1e}")


if __name__ == "__main__":
    main()
