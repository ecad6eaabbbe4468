"""A 64-bit fingerprint of an array's bytes: whether kept filters changed (fast/kept.py).

    fingerprint(words) = sum over i of mix(words[i] XOR i*K1)     (mod 2^64)
        mix(v) = u XOR (u >> 31),  u = v*K2

Each word is mixed with its position by a bijection of the 64-bit integers (an XOR with a
number, a multiplication by an odd constant, an xor-shift: each can be undone), so
changing any one word always changes the fingerprint, and two arrays that differ in more
words share it only by a coincidence of about 1 in 2^64. The terms are independent and
summed, so the loop vectorizes, and it reads the array once: 2.4 MB of filters (vgg_bn_net's
256 -> 256 layer) in 39 us from the cache and 152 us from memory, against 82 and 487 us
for np.array_equal with a kept copy, which reads twice as much and writes a mask (Zen 4).
With AVX2 alone (no 64-bit vector multiply) it takes 94 us from the cache, more than
np.array_equal's 72; inside the nets, where the filters come from memory, the forward is
still 1.03-1.08x as fast as with the copy (run_all.py --isa avx2's settings, session 21).
K1 and K2 are SplitMix64's increment and first multiplier (Steele, Lea & Flood, "Fast
splittable pseudorandom number generators", OOPSLA 2014).
"""
import numpy as np
from numba import njit

K1 = np.uint64(0x9E3779B97F4A7C15)
K2 = np.uint64(0xBF58476D1CE4E5B9)


@njit(cache=True, nogil=True)
def fingerprint(words):                    # words: a flat array of unsigned integers
    total = np.uint64(0)
    for i in range(words.size):
        u = (np.uint64(words[i]) ^ (np.uint64(i) * K1)) * K2
        total += u ^ (u >> np.uint64(31))
    return total
