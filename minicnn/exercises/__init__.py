"""Exercises: write the ops yourself, and minicnn's property tests grade them.

    minicnn exercise list                   the exercises in lecture order, with your status
    minicnn exercise start relu_rules       writes minicnn-exercises/relu_rules.py, a skeleton
    minicnn exercise check relu_rules       PASS / FAIL per property; on a pass, the lecture's
                                            picture drawn with your code

One module per exercise, in lecture order (EXERCISES). Each holds

    TITLE, LESSON       one line on what is built, and the lesson it belongs to
    FUNCTIONS           {name: parameter names}: what the student writes
    SKELETON            the file `start` writes: the math, shapes, references and hints in
                        docstrings, every function raising NotImplementedError, NumPy only
    the reference       functions named as in FUNCTIONS (and any HELPERS they use): a
                        solution written out, which the tests check like a student's file
    PROPERTIES          what must hold, as properties.Property objects (hypothesis cases)
    picture(fns, out, data, notify)
                        the lecture's picture drawn with the student's functions, plugged
                        into the plain route of the shipped net (minicnn.route.replaced)

checker.py runs the properties on a student's file in a worker process (worker.py) with a
time limit; cli.py is the command line.
"""
import importlib
import inspect

EXERCISES = (
    "conv_naive",             # lesson 01: a first-layer unit is a weighted sum over a patch
    "conv_im2col",            # lesson 02: every window as a column, one matrix multiply
    "linear",                 # lesson 03: the fully connected layer
    "receptive_field",        # lesson 04: the region a unit sees, walking down the layers
    "saliency",               # lesson 06: one forward and one backward pass by hand
    "guided_unit",            # lesson 07: guided backprop from one hidden unit
    "relu_rules",             # lesson 08: the three ways back through a ReLU
    "max_pool",               # lesson 08: max-pooling and its switches
    "class_model_step",       # lesson 09: one step of gradient ascent, with blur
    "occlusion",              # lesson 10: a grey square slid over the image
    "gradcam",                # lesson 11: Grad-CAM's channel weights and map
    "softmax_cross_entropy",  # lesson 13: the loss the net is trained with
    "sgd_momentum",           # lesson 13: the update that trains it
)


def load(name):
    """The module of exercise `name`; ValueError naming the exercises if there is none."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are: {', '.join(EXERCISES)}")
    return importlib.import_module(f"minicnn.exercises.{name}")


def solution_source(name):
    """The reference solution as a student's file would hold it: `import numpy as np` and
    the functions (with the helpers they use), nothing of minicnn."""
    module = load(name)
    names = tuple(getattr(module, "HELPERS", ())) + tuple(module.FUNCTIONS)
    parts = ["import numpy as np"] + [inspect.getsource(getattr(module, n)) for n in names]
    return "\n\n\n".join(part.rstrip() for part in parts) + "\n"
