"""`minicnn exercise`: the exercises, their checker and the command line.

- every exercise's reference solution, written out as a student's file (NumPy only), passes
  every property; at least three typical mistakes per exercise fail, each in the property
  that names it and with the message that explains it;
- an untouched skeleton is "not started"; a syntax error, an exception in the student's
  code, an endless loop and a crash each get their message, and the checker never hangs;
- `check --json` writes Gradescope's fields; `start` never overwrites without --force; the
  exit codes; `list`; the picture is drawn by the student's own functions.

Most checks run in this process (`isolate=False`, trusted code, few hypothesis cases, so the
file stays fast); the tests of the isolation itself run the real worker process.
"""
import ast
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from minicnn import exercises
from minicnn.exercises import checker
from minicnn.exercises.cli import main

EXAMPLES = 15
LESSONS = Path(__file__).resolve().parent.parent / "lessons"

# The five exercises whose names and signatures teachers and tests rely on (issue 17).
FIXED = {
    "relu_rules": {"relu_forward": ["x"], "relu_backward_normal": ["x", "dout"],
                   "relu_backward_guided": ["x", "dout"], "relu_backward_deconv": ["x", "dout"]},
    "linear": {"linear_forward": ["x", "w", "b"], "linear_backward": ["dout", "x", "w", "b"]},
    "softmax_cross_entropy": {"softmax_cross_entropy": ["logits", "y"]},
    "conv_naive": {"conv_forward": ["x", "w", "b", "stride", "padding"],
                   "conv_backward": ["dout", "x", "w", "b", "stride", "padding"]},
    "max_pool": {"max_pool_forward": ["x", "kernel", "stride"],
                 "max_pool_backward": ["dout", "x", "kernel", "stride"]},
}


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def run_check(name, path, **options):
    options = {"examples": EXAMPLES, "picture": False, "isolate": False, **options}
    return checker.check(name, path, **options)


def listed(out, name):
    """The line of `minicnn exercise list`'s table for exercise `name`."""
    return next(line for line in out.splitlines() if line.split()[1:2] == [name])


def outcome(report, words):
    """The outcome of the one property whose name contains `words`."""
    found = [o for o in report.outcomes if words in o.name]
    assert len(found) == 1, f"no single property named like {words!r}: " \
                            f"{[o.name for o in report.outcomes]}"
    return found[0]


# ---- the exercises themselves ------------------------------------------------------------------

def test_at_least_twelve_exercises_in_lecture_order():
    assert len(exercises.EXERCISES) >= 12
    lessons = [int(exercises.load(name).LESSON[:2]) for name in exercises.EXERCISES]
    assert lessons == sorted(lessons), dict(zip(exercises.EXERCISES, lessons))
    for name in exercises.EXERCISES:
        assert (LESSONS / f"{exercises.load(name).LESSON}.py").is_file(), name


@pytest.mark.parametrize("name", list(FIXED))
def test_the_five_fixed_exercises_keep_their_names_and_signatures(name):
    module = exercises.load(name)
    assert {f: list(p) for f, p in module.FUNCTIONS.items()} == FIXED[name]
    namespace = {}
    exec(compile(module.SKELETON, f"{name}.py", "exec"), namespace)
    for function, parameters in FIXED[name].items():
        assert list(inspect.signature(namespace[function]).parameters) == parameters


@pytest.mark.parametrize("name", exercises.EXERCISES)
def test_skeleton_imports_only_numpy_and_every_function_raises(name):
    module = exercises.load(name)
    tree = ast.parse(module.SKELETON)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [node])
                } | {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)}
    imported.discard(None)
    assert imported <= {"numpy"}, imported
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert list(functions) == list(module.FUNCTIONS)
    for node in functions.values():
        docstring = ast.get_docstring(node)
        assert docstring, f"{name}.{node.name} has no docstring"
        last = node.body[-1]
        assert isinstance(last, ast.Raise) and "NotImplementedError" in ast.unparse(last)
        assert [a.arg for a in node.args.args] == list(module.FUNCTIONS[node.name])
    assert ast.get_docstring(tree) and f"minicnn exercise check {name}" in module.SKELETON


@pytest.mark.parametrize("name", exercises.EXERCISES)
def test_the_reference_solution_passes(name, tmp_path):
    source = exercises.solution_source(name)
    assert "minicnn" not in source and "import numpy as np" in source
    report = run_check(name, write(tmp_path / f"{name}.py", source))
    assert report.passed, report.text()
    assert report.exit_code == 0 and report.status == "passed"
    assert len(report.outcomes) == len(exercises.load(name).PROPERTIES) >= 2


@pytest.mark.parametrize("name", exercises.EXERCISES)
def test_an_untouched_skeleton_is_not_started(name, tmp_path):
    report = run_check(name, write(tmp_path / f"{name}.py", exercises.load(name).SKELETON))
    assert report.not_started and report.status == "not started", report.text()
    assert report.exit_code == 1
    assert all("NotImplementedError" in o.text for o in report.outcomes)
    assert "not started" in report.summary()


# ---- typical mistakes: (exercise, what, code appended to the solution, property, message) ----

MISTAKES = [
    ("relu_rules", "guided written as the normal rule",
     "def relu_backward_guided(x, dout):\n    return dout * (x > 0)\n",
     "guided rule", "is the normal rule"),
    ("relu_rules", "deconv written as the guided rule",
     "def relu_backward_deconv(x, dout):\n    return np.maximum(dout, 0) * (x > 0)\n",
     "deconv rule", "also looks at x"),
    ("relu_rules", "normal rule looking at dout",
     "def relu_backward_normal(x, dout):\n    return dout * (dout > 0)\n",
     "normal rule", "expected dx"),
    ("relu_rules", "forward writes into x",
     "def relu_forward(x):\n    x[x < 0] = 0\n    return x\n",
     "leaves x as it was", "wrote into its input x"),

    ("linear", "dw transposed",
     "_backward = linear_backward\n"
     "def linear_backward(dout, x, w, b):\n"
     "    dx, dw, db = _backward(dout, x, w, b)\n    return dx, x.T @ dout, db\n",
     "dw matches", "transposed"),
    ("linear", "db averaged over the batch",
     "_backward = linear_backward\n"
     "def linear_backward(dout, x, w, b):\n"
     "    dx, dw, db = _backward(dout, x, w, b)\n    return dx, dw, dout.mean(axis=0)\n",
     "db matches", "mean over the batch"),
    ("linear", "the bias forgotten",
     "def linear_forward(x, w, b):\n    return x @ w.T\n", "forward", "bias is missing"),
    ("linear", "dx without the weights' layout",
     "_backward = linear_backward\n"
     "def linear_backward(dout, x, w, b):\n"
     "    dx, dw, db = _backward(dout, x, w, b)\n    return dout @ w.T, dw, db\n",
     "dx matches", "raised an exception"),

    ("softmax_cross_entropy", "gradient not divided by N",
     "_sce = softmax_cross_entropy\n"
     "def softmax_cross_entropy(logits, y):\n"
     "    loss, d = _sce(logits, y)\n    return loss, d * len(logits)\n",
     "central differences", "N times too large"),
    ("softmax_cross_entropy", "no max subtracted",
     "def softmax_cross_entropy(logits, y):\n"
     "    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)\n"
     "    N = len(logits)\n    loss = -np.log(p[np.arange(N), y]).mean()\n"
     "    p[np.arange(N), y] -= 1\n    return loss, p / N\n",
     "thousands", "Subtract each row's maximum"),
    ("softmax_cross_entropy", "one-hot subtracted from whole columns",
     "_sce = softmax_cross_entropy\n"
     "def softmax_cross_entropy(logits, y):\n"
     "    loss, d = _sce(logits, y)\n    N = len(logits)\n    d = d * N\n"
     "    d[np.arange(N), y] += 1\n    d[:, y] -= 1\n    return loss, d / N\n",
     "sums to 0", "not 0"),
    ("softmax_cross_entropy", "loss summed, not averaged",
     "_sce = softmax_cross_entropy\n"
     "def softmax_cross_entropy(logits, y):\n"
     "    loss, d = _sce(logits, y)\n    return loss * len(logits), d\n",
     "mean over the batch of", "sum over the batch"),

    ("conv_naive", "dw flipped",
     "_backward = conv_backward\n"
     "def conv_backward(dout, x, w, b, stride, padding):\n"
     "    dx, dw, db = _backward(dout, x, w, b, stride, padding)\n"
     "    return dx, dw[:, :, ::-1, ::-1], db\n", "dw matches", "flipped"),
    ("conv_naive", "padding not cropped from dx",
     "_backward = conv_backward\n"
     "def conv_backward(dout, x, w, b, stride, padding):\n"
     "    dx, dw, db = _backward(dout, x, w, b, stride, padding)\n"
     "    P = padding\n"
     "    return np.pad(dx, ((0, 0), (0, 0), (P, P), (P, P))), dw, db\n",
     "dx matches", "padded input's shape"),
    ("conv_naive", "the filter flipped in forward",
     "_forward = conv_forward\n"
     "def conv_forward(x, w, b, stride, padding):\n"
     "    return _forward(x, w[:, :, ::-1, ::-1], b, stride, padding)\n",
     "forward: every output", "flipped the filter"),
    ("conv_naive", "the stride forgotten",
     "_forward = conv_forward\n"
     "def conv_forward(x, w, b, stride, padding):\n"
     "    return _forward(x, w, b, 1, padding)\n", "output shape", "expected"),

    ("max_pool", "backward to the wrong element",
     "def max_pool_backward(dout, x, kernel, stride):\n"
     "    N, C, OH, OW = dout.shape\n    dx = np.zeros_like(x)\n"
     "    for n in range(N):\n      for c in range(C):\n        for oy in range(OH):\n"
     "          for ox in range(OW):\n"
     "            win = x[n, c, oy*stride:oy*stride+kernel, ox*stride:ox*stride+kernel]\n"
     "            j, i = divmod(int(np.argmax(win)), win.shape[1])\n"
     "            dx[n, c, oy*stride + i, ox*stride + j] += dout[n, c, oy, ox]\n"
     "    return dx\n", "goes to its window's maximum", "expected dx"),
    ("max_pool", "overlapping windows overwrite",
     "def max_pool_backward(dout, x, kernel, stride):\n"
     "    N, C, OH, OW = dout.shape\n    dx = np.zeros_like(x)\n"
     "    for n in range(N):\n      for c in range(C):\n        for oy in range(OH):\n"
     "          for ox in range(OW):\n"
     "            win = x[n, c, oy*stride:oy*stride+kernel, ox*stride:ox*stride+kernel]\n"
     "            i, j = np.unravel_index(np.argmax(win), win.shape)\n"
     "            dx[n, c, oy*stride + i, ox*stride + j] = dout[n, c, oy, ox]\n"
     "    return dx\n", "overlapping windows", "overwrite each other"),
    ("max_pool", "a tie to the last maximum",
     "def max_pool_backward(dout, x, kernel, stride):\n"
     "    N, C, OH, OW = dout.shape\n    dx = np.zeros_like(x)\n"
     "    for n in range(N):\n      for c in range(C):\n        for oy in range(OH):\n"
     "          for ox in range(OW):\n"
     "            win = x[n, c, oy*stride:oy*stride+kernel, ox*stride:ox*stride+kernel]\n"
     "            k = win.size - 1 - int(np.argmax(win.ravel()[::-1]))\n"
     "            i, j = divmod(k, win.shape[1])\n"
     "            dx[n, c, oy*stride + i, ox*stride + j] += dout[n, c, oy, ox]\n"
     "    return dx\n", "tie", "LAST maximum"),
    ("max_pool", "the output size rounded up",
     "_forward = max_pool_forward\n"
     "def max_pool_forward(x, kernel, stride):\n"
     "    H, W = x.shape[2:]\n"
     "    x = np.pad(x, ((0, 0), (0, 0), (0, stride), (0, stride)), constant_values=-9)\n"
     "    out = _forward(x, kernel, stride)\n"
     "    return out[:, :, :-(-(H - kernel) // stride) + 1, :-(-(W - kernel) // stride) + 1]\n",
     "output shape", "expected"),

    ("conv_im2col", "the window in (i, j, c) order",
     "def im2col(x, KH, KW, stride, padding):\n"
     "    N, C, H, W = x.shape\n"
     "    OH, OW = (H + 2*padding - KH)//stride + 1, (W + 2*padding - KW)//stride + 1\n"
     "    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n"
     "    cols = np.empty((N, KH, KW, C, OH, OW))\n"
     "    for i in range(KH):\n        for j in range(KW):\n"
     "            cols[:, i, j] = xp[:, :, i:i + stride*OH:stride, j:j + stride*OW:stride]\n"
     "    return cols.reshape(N, C*KH*KW, OH*OW)\n", "im2col:", "(i, j, c) order"),
    ("conv_im2col", "col2im with = instead of +=",
     "def col2im(cols, x_shape, KH, KW, stride, padding):\n"
     "    N, C, H, W = x_shape\n"
     "    OH, OW = (H + 2*padding - KH)//stride + 1, (W + 2*padding - KW)//stride + 1\n"
     "    cols = cols.reshape(N, C, KH, KW, OH, OW)\n"
     "    dxp = np.zeros((N, C, H + 2*padding, W + 2*padding))\n"
     "    for i in range(KH):\n        for j in range(KW):\n"
     "            dxp[:, :, i:i + stride*OH:stride, j:j + stride*OW:stride] = cols[:, :, i, j]\n"
     "    return dxp[:, :, padding:padding + H, padding:padding + W]\n",
     "col2im:", "overwrite each other"),
    ("conv_im2col", "dw of the first image only",
     "_backward = conv_backward\n"
     "def conv_backward(dout, x, w, b, stride, padding):\n"
     "    dx, dw, db = _backward(dout[:1], x[:1], w, b, stride, padding)\n"
     "    dx2, _, _ = _backward(dout, x, w, b, stride, padding)\n"
     "    return dx2, dw, db\n", "conv_backward", "expected dw"),

    ("receptive_field", "the jump forgotten",
     "def receptive_field_size(layers):\n    r, j = 1, 1\n"
     "    for K, S, P in layers:\n        r, j = r + (K - 1), j * S\n    return r, j\n",
     "size", "ignores the jump"),
    ("receptive_field", "no clipping",
     "def receptive_field(layers, y, x, input_hw):\n    y0, y1, x0, x1 = y, y + 1, x, x + 1\n"
     "    for K, S, P in reversed(layers):\n"
     "        y0, y1 = y0 * S - P, (y1 - 1) * S - P + K\n"
     "        x0, x1 = x0 * S - P, (x1 - 1) * S - P + K\n    return y0, y1, x0, x1\n",
     "with padding", "did not clip"),
    ("receptive_field", "clipped at the image only",
     "def receptive_field(layers, y, x, input_hw):\n    y0, y1, x0, x1 = y, y + 1, x, x + 1\n"
     "    for K, S, P in reversed(layers):\n"
     "        y0, y1 = y0 * S - P, (y1 - 1) * S - P + K\n"
     "        x0, x1 = x0 * S - P, (x1 - 1) * S - P + K\n"
     "    return max(y0, 0), min(y1, input_hw[0]), max(x0, 0), min(x1, input_hw[1])\n",
     "last row and column", "clipped at the image only"),
    ("receptive_field", "inclusive ends",
     "_rf = receptive_field\n"
     "def receptive_field(layers, y, x, input_hw):\n"
     "    y0, y1, x0, x1 = _rf(layers, y, x, input_hw)\n"
     "    return y0, y1 - 1, x0, x1 - 1\n", "without padding", "one short"),

    ("saliency", "the ReLU's mask forgotten",
     "def saliency(x, w1, b1, w2, b2, target):\n    ds = np.zeros((len(x), len(w2)))\n"
     "    ds[np.arange(len(x)), target] = 1\n    return ds @ w2 @ w1\n",
     "one image", "ignores the ReLU"),
    ("saliency", "every image explained for the first image's class",
     "_saliency = saliency\n"
     "def saliency(x, w1, b1, w2, b2, target):\n"
     "    return _saliency(x, w1, b1, w2, b2, np.full(len(x), target[0]))\n",
     "a batch", "first image's class"),
    ("saliency", "the gradient of all scores",
     "def saliency(x, w1, b1, w2, b2, target):\n    z = x @ w1.T + b1\n"
     "    return ((np.ones((len(x), len(w2))) @ w2) * (z > 0)) @ w1\n",
     "one image", "sum of all K scores"),

    ("guided_unit", "the true gradient (normal rule)",
     "def guided_backprop_unit(layers, x, unit):\n    out = x\n"
     "    for layer in layers:\n        out = layer.forward(out)\n    dout = np.zeros_like(out)\n"
     "    dout[(slice(None),) + tuple(unit)] = 1\n"
     "    for layer in reversed(layers):\n        dout = layer.backward(dout)\n    return dout\n",
     "one image, a conv unit", "true gradient"),
    ("guided_unit", "the unit set in the first image only",
     "_guided = guided_backprop_unit\n"
     "def guided_backprop_unit(layers, x, unit):\n    dx = _guided(layers, x, unit)\n"
     "    dx[1:] = 0\n    return dx\n", "a batch", "only the first image"),
    ("guided_unit", "the deconvnet rule at the ReLUs",
     "def guided_backprop_unit(layers, x, unit):\n    out = x\n"
     "    for layer in layers:\n        out = layer.forward(out)\n    dout = np.zeros_like(out)\n"
     "    dout[(slice(None),) + tuple(unit)] = 1\n    for layer in reversed(layers):\n"
     "        dout = np.maximum(dout, 0) if layer.kind == 'relu' else layer.backward(dout)\n"
     "    return dout\n", "one image, a conv unit", "expected dx"),

    ("class_model_step", "one RMS for the whole batch",
     "def class_model_step(x, g, lr, l2, blur_sigma):\n    rms = np.sqrt((g ** 2).mean())\n"
     "    x = (x + lr * g / (rms + 1e-12)) * (1 - l2)\n"
     "    return gaussian_blur(x, blur_sigma) if blur_sigma > 0 else x\n",
     "a batch", "over the whole batch"),
    ("class_model_step", "the blur before the step",
     "_step = class_model_step\n"
     "def class_model_step(x, g, lr, l2, blur_sigma):\n"
     "    x = gaussian_blur(x, blur_sigma) if blur_sigma > 0 else x\n"
     "    return _step(x, g, lr, l2, 0.0)\n", "with blur", "blur came before the step"),
    ("class_model_step", "the kernel not normalised",
     "_blur = gaussian_blur\n"
     "def gaussian_blur(x, sigma):\n"
     "    t = np.arange(-max(1, int(np.ceil(3 * sigma))), max(1, int(np.ceil(3 * sigma))) + 1)\n"
     "    k = np.exp(-t ** 2 / (2 * sigma ** 2))\n    return _blur(x, sigma) * k.sum() ** 2\n",
     "constant image", "divide the kernel by its sum"),
    ("class_model_step", "the edge pixel repeated at the border",
     "def gaussian_blur(x, sigma):\n    r = max(1, int(np.ceil(3 * sigma)))\n"
     "    t = np.arange(-r, r + 1)\n    k = np.exp(-t ** 2 / (2 * sigma ** 2))\n    k /= k.sum()\n"
     "    H, W = x.shape[2:]\n"
     "    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (0, 0)), mode='edge')\n"
     "    x = sum(k[i] * xp[:, :, i:i + H] for i in range(2 * r + 1))\n"
     "    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (r, r)), mode='edge')\n"
     "    return sum(k[i] * xp[:, :, :, i:i + W] for i in range(2 * r + 1))\n",
     "mirrored borders", "not mirrored"),

    ("occlusion", "earlier squares left painted",
     "def occlusion(predict, image, label, size, stride, fill):\n    C, H, W = image.shape\n"
     "    OH, OW = (H - size) // stride + 1, (W - size) // stride + 1\n"
     "    copy, prob = image.copy(), np.zeros((OH, OW))\n"
     "    for i in range(OH):\n        for j in range(OW):\n"
     "            copy[:, i*stride:i*stride + size, j*stride:j*stride + size] = fill\n"
     "            prob[i, j] = predict(copy[None])[0, label]\n    return prob\n",
     "prob[i, j]", "stayed painted"),
    ("occlusion", "the image itself painted",
     "def occlusion(predict, image, label, size, stride, fill):\n    C, H, W = image.shape\n"
     "    OH, OW = (H - size) // stride + 1, (W - size) // stride + 1\n"
     "    prob = np.zeros((OH, OW))\n    for i in range(OH):\n        for j in range(OW):\n"
     "            copy = image.copy()\n"
     "            copy[:, i*stride:i*stride + size, j*stride:j*stride + size] = fill\n"
     "            prob[i, j] = predict(copy[None])[0, label]\n"
     "    image[:, :size, :size] = fill\n    return prob\n",
     "image itself", "painted into `image`"),
    ("occlusion", "rows and columns swapped",
     "_occlusion = occlusion\n"
     "def occlusion(predict, image, label, size, stride, fill):\n"
     "    return _occlusion(predict, image, label, size, stride, fill).T\n",
     "output shape", "expected"),
    ("occlusion", "only the first channel painted",
     "def occlusion(predict, image, label, size, stride, fill):\n    C, H, W = image.shape\n"
     "    OH, OW = (H - size) // stride + 1, (W - size) // stride + 1\n"
     "    prob = np.zeros((OH, OW))\n    for i in range(OH):\n        for j in range(OW):\n"
     "            copy = image.copy()\n"
     "            copy[0, i*stride:i*stride + size, j*stride:j*stride + size] = fill\n"
     "            prob[i, j] = predict(copy[None])[0, label]\n    return prob\n",
     "prob[i, j]", "only the first channel"),

    ("gradcam", "the gradient summed, not averaged",
     "def gradcam(A, dA):\n"
     "    return np.maximum((dA.sum(axis=(2, 3))[:, :, None, None] * A).sum(axis=1), 0)\n",
     "one image", "SUM over positions"),
    ("gradcam", "the ReLU forgotten",
     "def gradcam(A, dA):\n    return (dA.mean(axis=(2, 3))[:, :, None, None] * A).sum(axis=1)\n",
     "never negative", "negative values"),
    ("gradcam", "weights averaged over the batch",
     "def gradcam(A, dA):\n"
     "    return np.maximum((dA.mean(axis=(0, 2, 3))[None, :, None, None] * A).sum(axis=1), 0)\n",
     "a batch", "averaged over the batch"),

    ("sgd_momentum", "CS231n's velocity",
     "def sgd_momentum(w, dw, v, lr, momentum, weight_decay):\n"
     "    v = momentum * v - lr * (dw + weight_decay * w)\n    return w + v, v\n",
     "momentum: v", "CS231n"),
    ("sgd_momentum", "weight decay with the wrong sign",
     "def sgd_momentum(w, dw, v, lr, momentum, weight_decay):\n"
     "    v = momentum * v + dw - weight_decay * w\n    return w - lr * v, v\n",
     "weight decay", "wrong sign"),
    ("sgd_momentum", "the step with the old velocity",
     "def sgd_momentum(w, dw, v, lr, momentum, weight_decay):\n"
     "    w_new = w - lr * v\n    return w_new, momentum * v + dw + weight_decay * w\n",
     "momentum: v", "old velocity"),
]


def test_every_exercise_has_three_typical_mistakes():
    counts = {name: sum(m[0] == name for m in MISTAKES) for name in exercises.EXERCISES}
    assert min(counts.values()) >= 3, counts


@pytest.mark.parametrize("name, what, code, prop, message", MISTAKES,
                         ids=[f"{m[0]}: {m[1]}" for m in MISTAKES])
def test_a_typical_mistake_fails_in_the_property_that_names_it(name, what, code, prop, message,
                                                              tmp_path):
    source = exercises.solution_source(name) + "\n\n# the mistake: a later definition wins\n" + code
    report = run_check(name, write(tmp_path / f"{name}.py", source))
    assert not report.passed and report.exit_code == 1
    broken = outcome(report, prop)
    assert broken.status == "fail", report.text()
    assert message in broken.text, broken.text
    assert "the smallest failing input hypothesis found" in broken.text
    assert "hint:" in broken.text


def test_a_failure_shows_inputs_expected_actual_and_where_they_differ(tmp_path):
    code = "def relu_backward_guided(x, dout):\n    return dout * (x > 0)\n"
    source = exercises.solution_source("relu_rules") + code
    text = outcome(run_check("relu_rules", write(tmp_path / "r.py", source)), "guided rule").text
    for words in ("x = ", "dout = ", "expected dx", "yours    dx", "where they differ", "hint:"):
        assert words in text, text


# ---- the checker's isolation: messages for what can go wrong ------------------------------------

def test_a_syntax_error_gets_a_clear_message(tmp_path):
    path = write(tmp_path / "relu_rules.py", "import numpy as np\n\ndef relu_forward(x)\n"
                                              "    return np.maximum(x, 0)\n")
    report = checker.check("relu_rules", path, isolate=True)
    assert report.exit_code == 1 and not report.passed
    assert "syntax error" in report.problem and "line 3" in report.problem
    assert "def relu_forward(x)" in report.problem and "^" in report.problem
    assert "syntax error" in report.text() and "Traceback" not in report.text()


def check_in_a_subprocess(tmp_path, name, path, *options):
    """`python -m minicnn.exercises check` with --json, in a process of its own: a checker
    that hangs fails the test (TimeoutExpired) instead of hanging it."""
    results = tmp_path / "results.json"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "minicnn.exercises", "check", name, "--file",
                             str(path), "--json", str(results), "--no-picture", *options],
                            capture_output=True, text=True, timeout=120)
    tests = {t["name"].split(": ", 1)[1]: t for t in json.loads(results.read_text())["tests"]}
    return result, tests, time.monotonic() - started


def test_an_endless_loop_ends_with_a_time_limit_and_an_exception_shows_the_students_lines(
        tmp_path):
    path = write(tmp_path / "relu_rules.py", (
        "import numpy as np\n\n\n"
        "def relu_forward(x):\n    return np.maximum(x, 0)\n\n\n"
        "def relu_backward_normal(x, dout):\n    while True:\n        pass\n\n\n"
        "def relu_backward_guided(x, dout):\n    flat = x.reshape(-1)\n"
        "    return flat[1000] * dout\n\n\n"
        "def relu_backward_deconv(x, dout):\n    return np.maximum(dout, 0)\n"))
    result, tests, seconds = check_in_a_subprocess(tmp_path, "relu_rules", path,
                                                   "--time-limit", "1", "--examples", "5")
    assert result.returncode == 1 and seconds < 60, result.stdout
    looped = next(t for name, t in tests.items() if name.startswith("normal rule"))
    assert looped["score"] == 0 and "TIME LIMIT" in looped["output"]
    assert "relu_backward_normal" in looped["output"] and "after 1 s" in looped["output"]
    raised = next(t for name, t in tests.items() if name.startswith("guided rule"))
    assert "line 15, in relu_backward_guided" in raised["output"]
    assert "flat[1000]" in raised["output"] and "IndexError" in raised["output"]
    assert "worker.py" not in raised["output"]
    deconv = next(t for name, t in tests.items() if name.startswith("deconv rule"))
    assert deconv["score"] == 1                           # checked by a fresh worker
    assert "TIME LIMIT" in result.stdout and "Traceback" not in result.stderr


def test_an_endless_loop_at_import_and_a_crash_are_reported(tmp_path):
    path = write(tmp_path / "a.py", "while True:\n    pass\n")
    result, tests, seconds = check_in_a_subprocess(tmp_path, "gradcam", path, "--time-limit", "1")
    assert result.returncode == 1 and seconds < 60
    assert "endless loop at the top level" in result.stdout
    assert all(t["score"] == 0 for t in tests.values())
    path = write(tmp_path / "b.py", "import os\n\ndef gradcam(A, dA):\n    os._exit(3)\n")
    report = checker.check("gradcam", path, examples=3, picture=False)
    assert all("ended unexpectedly (exit code 3)" in o.text for o in report.outcomes), report.text()
    path = write(tmp_path / "c.py", "print('hello')\nvalue = undefined_name\n")
    report = checker.check("gradcam", path, picture=False)
    assert "NameError" in report.problem and "line 2" in report.problem
    assert "hello" in report.problem


def test_a_missing_function_is_named(tmp_path):
    source = exercises.solution_source("linear").replace("def linear_backward", "def linear_bwd")
    report = run_check("linear", write(tmp_path / "linear.py", source))
    assert outcome(report, "forward").status == "pass"
    assert "no function named linear_backward" in outcome(report, "dw matches").text


# ---- the command line -------------------------------------------------------------------------

def test_start_never_overwrites_without_force(tmp_path, capsys):
    folder = tmp_path / "ex"
    assert main(["start", "relu_rules", "--dir", str(folder)]) == 0
    path = folder / "relu_rules.py"
    assert path.read_text() == exercises.load("relu_rules").SKELETON
    path.write_text("my work\n")
    capsys.readouterr()
    assert main(["start", "relu_rules", "--dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists already" in err[0] and "--force" in err[0]
    assert path.read_text() == "my work\n"
    assert main(["start", "relu_rules", "--dir", str(folder), "--force"]) == 0
    assert path.read_text() == exercises.load("relu_rules").SKELETON


def test_errors_are_one_line_with_exit_status_2(tmp_path, capsys):
    assert main(["start", "no_such_exercise", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown exercise 'no_such_exercise'" in err[0]
    assert "relu_rules" in err[0]
    assert main(["check", "linear", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no file" in err[0] and "minicnn exercise start linear" in err[0]


def test_check_exit_codes_status_and_gradescope_json(tmp_path, capsys):
    folder = tmp_path / "ex"
    assert main(["start", "gradcam", "--dir", str(folder)]) == 0
    results = tmp_path / "results.json"
    assert main(["check", "gradcam", "--dir", str(folder), "--json", str(results)]) == 1
    data = json.loads(results.read_text())
    assert data["score"] == 0 and all(t["status"] == "failed" for t in data["tests"])
    capsys.readouterr()
    main(["list", "--dir", str(folder)])
    assert "not started" in listed(capsys.readouterr().out, "gradcam")

    (folder / "gradcam.py").write_text(exercises.solution_source("gradcam"))
    assert main(["check", "gradcam", "--dir", str(folder), "--json", str(results),
                 "--no-picture", "--examples", "5"]) == 0
    data = json.loads(results.read_text())
    assert len(data["tests"]) == len(exercises.load("gradcam").PROPERTIES)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output"} <= set(test)
        assert test["score"] == test["max_score"] == 1.0 and test["name"].startswith("gradcam: ")
    assert data["score"] == sum(t["score"] for t in data["tests"]) == len(data["tests"])
    assert isinstance(data["execution_time"], float) and isinstance(data["output"], str)
    capsys.readouterr()
    main(["list", "--dir", str(folder)])
    out = capsys.readouterr().out
    assert "passed" in listed(out, "gradcam") and "not started" in listed(out, "linear")

    failing = exercises.solution_source("gradcam") + (      # weights averaged over the batch
        "\n\ndef gradcam(A, dA):\n    alpha = dA.mean(axis=(0, 2, 3))[None, :, None, None]\n"
        "    return np.maximum((alpha * A).sum(axis=1), 0)\n")
    (folder / "gradcam.py").write_text(failing)
    main(["list", "--dir", str(folder)])
    assert "not checked since it last changed" in listed(capsys.readouterr().out, "gradcam")
    submission = write(tmp_path / "alice.py", failing)
    assert main(["check", "gradcam", "--file", str(submission), "--json", str(results),
                 "--no-picture", "--examples", "5"]) == 1
    data = json.loads(results.read_text())
    assert 0 < data["score"] < len(data["tests"])
    batch = next(t for t in data["tests"] if "a batch" in t["name"])
    assert batch["score"] == 0 and "averaged over the batch" in batch["output"]
    assert batch["status"] == "failed" and batch["max_score"] == 1.0
    assert not (tmp_path / ".status.json").exists()        # --file leaves no status behind


def test_a_missing_submission_still_gets_gradescope_results(tmp_path):
    results = tmp_path / "results.json"
    assert main(["check", "max_pool", "--file", str(tmp_path / "none.py"),
                 "--json", str(results)]) == 2
    data = json.loads(results.read_text())
    assert data["score"] == 0 and len(data["tests"]) == len(exercises.load("max_pool").PROPERTIES)


def test_python_dash_m_runs_the_same_commands_and_leaves_no_files_behind(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minicnn.exercises", "list"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in exercises.EXERCISES:
        assert name in result.stdout
    write(tmp_path / "mine.py", exercises.solution_source("linear"))
    result = subprocess.run([sys.executable, "-m", "minicnn.exercises", "check", "linear",
                             "--file", "mine.py", "--no-picture", "--examples", "3"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 4 properties pass." in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.py"]   # no .hypothesis/


# ---- the picture ------------------------------------------------------------------------------

def test_a_pass_draws_the_picture_with_the_students_own_functions(tmp_path):
    """The student's guided rule writes down every shape it is called with: the picture's
    calls are the shipped net's ReLUs (4 images of 32 channels of 32x32 for relu1)."""
    log = tmp_path / "calls.txt"
    source = exercises.solution_source("relu_rules").replace(
        "def relu_backward_guided(x, dout):\n",
        "def relu_backward_guided(x, dout):\n"
        f"    open({str(log)!r}, 'a').write(str(x.shape) + '\\n')\n")
    path = write(tmp_path / "relu_rules.py", source)
    out = tmp_path / "pictures" / "mine.png"
    report = checker.check("relu_rules", path, examples=5, out=out,
                           data=os.environ.get("MINICNN_DATA") or None)
    assert report.passed and report.picture == str(out), report.text()
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 300
    shapes = set(log.read_text().split("\n"))
    assert "(4, 32, 32, 32)" in shapes, sorted(shapes)[:10]
    assert str(out) in report.summary()


@pytest.mark.parametrize("name", exercises.EXERCISES)
def test_its_lesson_ends_with_a_your_turn_cell_naming_it(name):
    text = (LESSONS / f"{exercises.load(name).LESSON}.py").read_text(encoding="utf-8")
    last_cell = text.rsplit("# %%", 1)[1]
    assert "Your turn" in last_cell and f"`minicnn exercise start {name}`" in last_cell
