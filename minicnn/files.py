"""Atomic writes: the one way minicnn puts a file on disk.

    with atomic_write("runs/ref/metrics.jsonl") as tmp:
        tmp.write_text(text)                   # or open(tmp, "wb"), fig.savefig(tmp, ...)

The block writes to a temporary name in the final folder; only when it has finished is the
file renamed into place with `os.replace`, so a half-written file never appears under the
real name and readers see either the old file or the new one. On any failure (an exception,
a full disk, Ctrl-C) the temporary file is deleted and the old file stays as it was; only a
hard kill can leave a hidden `.part` file behind.

Checkpoints, the decoded-data cache, downloads, figures, the tour's page and the training
metrics are all written this way. Only the standard library is used.
"""
import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(dest, fsync=False):
    """Yield a temporary path next to `dest`; rename it to `dest` if the block succeeds.

    Inputs:
    - dest: the final file name; its folder is created if needed
    - fsync: before the rename, wait until the temporary file's bytes are on the disk, so
      that even after a power cut `dest` holds the old or the new file whole (checkpoints
      ask for it; it costs a disk flush)
    Yields: a Path `.{dest.name}.{pid}.part` in dest's folder, not yet created. Tools that
    pick a format from the file name (matplotlib's savefig, np.savez) need it given
    explicitly, or an open file instead of the name.

    If the block raises anything (including KeyboardInterrupt) the temporary file is deleted
    and `dest` is left as it was. The temporary name lives in the same folder as `dest`,
    because `os.replace` is only atomic within one file system.
    """
    dest = Path(dest)
    if dest.is_dir():                   # say so now, not after writing the whole file
        raise IsADirectoryError(f"{dest} is a folder; give a file name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
