"""Filters laid out for a road once, and kept while they do not change.

Weights that get no gradient (inference, explanations) go through a layer call after
call. A road that multiplies them in another layout (Winograd's transformed filters,
small_maps.py's filters per tap) would lay them out again every time: at batch 1 that was
about 15% of the reference net's forward (0.82 ms with it, 0.74 ms kept, Zen 4), and
transposing vgg_bn_net's 256 -> 256 filters takes 0.5 ms, more than that layer's product
for a few images. So the layout is kept, with a fingerprint of the filters' values:

    kept(w, "taps", make)  -> make(w) the first time, the same array while w is unchanged

An array changed in place (an optimizer step, `conv.weight.data[...] = ...`) no longer
matches its fingerprint and is laid out again. The fingerprint (kernels/fingerprint.py)
reads the filters once. Comparing them with a kept copy instead, as until session 21, read
twice as much and wrote a mask: vgg_bn_net's forward of one image took 3.87 ms that way
against 3.56 with the fingerprint, residual_net's of two images 5.18 against 4.58 ms (one
process, alternated, Zen 4), and the copies took as much memory again as the filters. An
entry goes when its array does.
"""
import weakref

import numpy as np

from minicnn.fast.kernels.fingerprint import fingerprint

# {(id(w), layout): (a weak reference to the array w, its shape, dtype and fingerprint,
#                    the layout)}
_kept = {}


def fingerprint_of(w):
    """fingerprint() of the bytes of the array w, read as 64-bit words where they divide."""
    flat = np.ascontiguousarray(w).reshape(-1)
    return fingerprint(flat.view(np.uint64 if flat.nbytes % 8 == 0 else np.uint8))


def kept(w, layout, make):
    """make(w) (made read-only), kept while the array w lives: the next call with the same
    array, its values unchanged, and the same `layout` (any hashable name) returns the same
    array. Filters that get a gradient change every step: lay them out directly instead."""
    key = (id(w), layout)
    seen = (w.shape, w.dtype, fingerprint_of(w))
    entry = _kept.get(key)
    if entry is not None and entry[0]() is w and entry[1] == seen:
        return entry[2]
    made = make(w)
    made.flags.writeable = False
    # the entry goes with its array (the dict is bound now: at exit, module names are None)
    _kept[key] = (weakref.ref(w, lambda _, entries=_kept: entries.pop(key, None)), seen, made)
    return made
