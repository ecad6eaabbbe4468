"""Filters laid out for a road once, and kept while they do not change.

Weights that get no gradient (inference, explanations) go through a layer call after
call. A road that multiplies them in another layout (Winograd's transformed filters,
small_maps.py's filters per tap) would lay them out again every time: at batch 1 that was
about 15% of the reference net's forward (0.82 ms with it, 0.74 ms kept, Zen 4), and
transposing vgg_bn_net's 256 -> 256 filters costs 0.5 ms against 0.2-0.4 ms for that
layer's whole product. So the layout is kept, with a copy of the filters' values:

    kept(w, "taps", make)  -> make(w) the first time, the same array while w is unchanged

An array changed in place (an optimizer step, `conv.weight.data[...] = ...`) no longer
equals its copy and is laid out again; comparing costs a read of both (86 us for 2.4 MB
of filters), a sixth of a transpose. An entry goes when its array does.
"""
import weakref

import numpy as np

# {(id(w), layout): (a weak reference to the array w, a copy of its values, the layout)}
_kept = {}


def kept(w, layout, make):
    """make(w) (made read-only), kept while the array w lives: the next call with the same
    array, its values unchanged, and the same `layout` (any hashable name) returns the same
    array. Filters that get a gradient change every step: lay them out directly instead."""
    key = (id(w), layout)
    entry = _kept.get(key)
    if entry is not None and entry[0]() is w and np.array_equal(entry[1], w):
        return entry[2]
    made = make(w)
    made.flags.writeable = False
    # the entry goes with its array (the dict is bound now: at exit, module names are None)
    _kept[key] = (weakref.ref(w, lambda _, entries=_kept: entries.pop(key, None)), w.copy(), made)
    return made
