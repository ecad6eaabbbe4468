"""Timing helpers shared by the benchmark scripts.

Machines are shared and noisy, so every figure is a median over repeats, and
comparisons with PyTorch alternate the two sides inside one run: a burst of
load from elsewhere then hurts both, and their ratio stays meaningful.
"""
import os
import platform
import time

import numpy as np

# CIFAR-10's training-set statistics (pixels in [0, 1]), for the scripts that normalise
# uint8 images or paint a grey occluder; timings do not depend on the exact values.
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


def time_once(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(sides, repeats, warmup=2, settle=1, settle_seconds=0.02):
    """Time each callable in `sides` ({name: fn}) `repeats` times, alternating
    between them. Returns {name: np.array of seconds}.

    Before each timed call, the side runs untimed calls: at least `settle` of them, and for
    at least `settle_seconds`. Without them a side would be timed right after the other one,
    whose threads are still busy for a while: PyTorch's OpenMP threads spin-wait after a
    parallel region (libgomp's GOMP_SPINCOUNT; one of them kept a core busy for about 8 ms
    after a 0.5 ms convolution on Zen 4), and minicnn's helper polls for about half a
    millisecond (fast/settings.py `polls`), each competing for the second core. A single
    settling call is not enough for calls shorter than that spin (a forward pass of a few
    images). So each side is timed in its own steady state, as when it runs alone, while the
    alternation still shares out the machine's slow moments between them."""
    for fn in sides.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start, calls = time.perf_counter(), 0
            while calls < settle or time.perf_counter() - start < settle_seconds:
                fn()
                calls += 1
            times[name].append(time_once(fn))
    return {name: np.array(t) for name, t in times.items()}


def spread(seconds):
    """'median (p25-p75)' in milliseconds."""
    q25, q50, q75 = np.percentile(seconds * 1e3, [25, 50, 75])
    return f"{q50:8.1f} ms  (p25 {q25:.1f}, p75 {q75:.1f})"


def report(times, items, unit="images/s"):
    """Print each side's median, spread and throughput (`items` per call), then, when
    PyTorch ran, minicnn's throughput relative to PyTorch's."""
    for name, t in times.items():
        rate = items / np.median(t)
        print(f"  {name:<8} {spread(t)}   {rate:7.{0 if rate >= 100 else 2}f} {unit}")
    if "pytorch" not in times:
        print("  pytorch  not installed (pip install -e '.[bench]' to compare)")
    else:
        ratio = np.median(times["pytorch"]) / np.median(times["minicnn"])
        print(f"  ratio    {ratio:.2f}x PyTorch's throughput (>1 means minicnn is faster)")


def maps_agree(ours, theirs, rtol, atol, share=0.995):
    """Whether two sides' attribution maps agree to rtol/atol (np.isclose) on at least `share`
    of their values. In float32 a ReLU whose input is within rounding of 0, a max-pool tie, or
    LRP's division by a pre-activation near 0 can tip either way on the two sides and move
    the values of the pixels that depend on it: with Winograd's F(4x4, 3x3) that happened in
    one image of 64 (376 of 196,608 saliency values, 220 of LRP's), while minicnn's two routes
    agreed to 1e-6 elsewhere. Different computations disagree almost everywhere."""
    return np.isclose(ours, theirs, rtol=rtol, atol=atol).mean() >= share


def reference_model(seed=0):
    """A freshly initialised minicnn reference net (random weights time the same as trained)."""
    import minicnn     # here, so that a PyTorch-only child process need not import minicnn
    minicnn.manual_seed(seed)
    return minicnn.models.reference_net()


def random_images(N, seed=0):
    """(N, 3, 32, 32) float32 standard-normal images, like normalised CIFAR-10 inputs."""
    return np.random.default_rng(seed).standard_normal((N, 3, 32, 32)).astype(np.float32)


def torch_reference_net(torch, model=None):
    """The reference net in PyTorch, loaded with the minicnn `model`'s weights (same names,
    same layouts); with PyTorch's own initialisation when no model is given."""
    nn = torch.nn
    net = nn.Sequential()
    for name, layer in [
        ("conv1", nn.Conv2d(3, 32, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(32, 32, 3, padding=1)), ("relu2", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(32, 64, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(64, 64, 3, padding=1)), ("relu4", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(4096, 256)), ("relu5", nn.ReLU()),
        ("fc2", nn.Linear(256, 10)),
    ]:
        net.add_module(name, layer)
    if model is not None:
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return net


def torch_bn_net(torch, model):
    """minicnn's residual_net or vgg_bn_net (minicnn/architectures.py) in PyTorch, layer for
    layer, with the same state-dict keys, loaded with `model`'s weights and buffers."""
    nn = torch.nn

    class BasicBlock(nn.Module):                      # torchvision's block, minicnn's names
        def __init__(self, block):
            super().__init__()
            self.conv1, self.bn1 = translate(block.conv1), translate(block.bn1)
            self.conv2, self.bn2 = translate(block.conv2), translate(block.bn2)
            self.downsample = None if block.downsample is None else translate(block.downsample)

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    def translate(layer):
        kind = type(layer).__name__
        if kind == "Conv2d":
            F, C, KH, KW = layer.weight.shape
            return nn.Conv2d(C, F, (KH, KW), stride=layer.stride, padding=layer.padding,
                             bias=layer.bias is not None)
        if kind == "BatchNorm2d":
            return nn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        if kind == "Sequential":
            return nn.Sequential(*[translate(sub) for sub in layer])
        if kind == "BasicBlock":
            return BasicBlock(layer)
        if kind == "Linear":
            M, D = layer.weight.shape
            return nn.Linear(D, M, bias=layer.bias is not None)
        if kind == "MaxPool2d":
            return nn.MaxPool2d(layer.kernel_size, layer.stride)
        simple = {"ReLU": nn.ReLU, "Flatten": nn.Flatten,
                  "AdaptiveAvgPool2d": lambda: nn.AdaptiveAvgPool2d(1)}
        return simple[kind]()

    net = nn.Sequential()
    for name, layer in model.named_children():
        net.add_module(name, translate(layer))
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return net


def torch_or_none(threads):
    """PyTorch when the optional `bench` extra is installed, else None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def cpu():
    """The CPU's model name, family and model numbers, and its widest vector extensions,
    from /proc/cpuinfo (Linux): e.g. "Intel(R) Xeon(R) Processor (family 6, model 143)
    [AVX2, AVX-512F, AMX]". Virtual machines often name only the vendor's line ("AMD EPYC"),
    and the numbers tell its generation (AMD family 25: model 1 Zen 3, model 17 Zen 4)."""
    model, flags, numbers = platform.processor() or platform.machine(), set(), {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key in ("cpu family", "model"):
                    numbers[key] = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    if len(numbers) == 2:
        model += f" (family {numbers['cpu family']}, model {numbers['model']})"
    names = [("avx2", "AVX2"), ("avx512f", "AVX-512F"), ("amx_tile", "AMX")]
    found = [name for flag, name in names if flag in flags]
    return f"{model} [{', '.join(found) or 'no AVX2'}]"


def machine():
    return f"{cpu()}{isa_limit()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# What makes a process run as if its CPU had no AVX-512, library by library (avx2_only()).
AVX2_ONLY = {
    "OPENBLAS_CORETYPE": "Haswell",        # NumPy's OpenBLAS: its AVX2 kernels
    "ATEN_CPU_CAPABILITY": "avx2",         # PyTorch's own kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",          # PyTorch's convolutions (oneDNN)
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",     # PyTorch's matrix multiplies (MKL)
}


def avx2_only():
    """Environment variables under which a child process uses no AVX-512 instructions, for
    measuring on an AVX-512 machine what an AVX2 machine would run (run_all.py --isa avx2).
    numba compiles for the host's CPU with every avx512* feature switched off
    (NUMBA_CPU_FEATURES); the libraries' kernels are picked by the variables in AVX2_ONLY.
    Only the instructions change: the cores, caches and clocks stay the host's."""
    import llvmlite.binding as llvm

    features = [("-" + f[1:]) if f[1:].startswith(("avx512", "avx10", "amx", "evex512")) else f
                for f in llvm.get_host_cpu_features().flatten().split(",")]
    return {**AVX2_ONLY, "NUMBA_CPU_FEATURES": ",".join(features)}


def isa_limit():
    """The note ' (run as AVX2)' for a benchmark's header, when avx2_only()'s variables are set."""
    features = os.environ.get("NUMBA_CPU_FEATURES", "").split(",")
    limited = "-avx512f" in features and all(
        os.environ.get(name) == value for name, value in AVX2_ONLY.items())
    return " (run as AVX2)" if limited else ""
