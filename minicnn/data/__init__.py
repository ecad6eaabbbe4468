"""CIFAR-10 for minicnn: loading it from wherever it is, and turning it into batches.

    from minicnn.data import load_cifar10, channel_stats, batches
    d = load_cifar10()                         # --data / MINICNN_DATA / cache / download
    s = load_sample()                          # 1,000 test images embedded in minicnn
    mean, std = channel_stats(d.train_x)       # (3,), (3,) float32
    for xb, yb in batches(d.train_x, d.train_y, 128, shuffle=True, seed=0, epoch=e,
                          augment=True, mean=mean, std=std):
        ...                                    # xb (128, 3, 32, 32) float32, yb (128,) int64

The package has five modules, read in this order:
- files.py     DataError, the cache folder, download with an md5 check
- formats.py   CIFAR10 (the arrays) and the readers of image folders and the official .bin files
- sources.py   resolve_source and load_cifar10: which source, and the cache of decoded arrays
- pipeline.py  channel_stats, normalize, augment, batches: from uint8 arrays to float batches
- sample.py    load_sample: the 1,000 test images embedded in the package (cifar10_sample.npz),
               and load_data_or_sample, which uses them when no other data is given
Only numpy, Pillow, tqdm and the standard library are used; nothing here needs the engine.
"""
from minicnn.data.files import DataError, default_cache_dir, download
from minicnn.data.formats import CIFAR10, CLASSES
from minicnn.data.pipeline import augment, batches, channel_stats, normalize, num_batches
from minicnn.data.sample import Sample, is_sample, load_data_or_sample, load_sample
from minicnn.data.sources import load_cifar10, resolve_source

__all__ = [
    "CIFAR10", "CLASSES", "DataError", "Sample",
    "augment", "batches", "channel_stats", "default_cache_dir", "download", "is_sample",
    "load_cifar10", "load_data_or_sample", "load_sample", "normalize", "num_batches",
    "resolve_source",
]
