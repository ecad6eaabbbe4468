"""Files on disk and on the network: the error type, the cache folder, downloads.

Everything in minicnn.data that can go wrong because of a file (missing, truncated, wrong
checksum, no network) raises `DataError`, with one message that names the path and the problem.

Writes are atomic, through minicnn.files.atomic_write (re-exported here): a file is written
under a temporary name in its final folder and renamed into place only once it is complete.
"""
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from minicnn.files import atomic_write  # noqa: F401  (re-exported: minicnn.data.files.atomic_write)


class DataError(ValueError):
    """A data file or folder is missing, malformed, or could not be fetched."""


def default_cache_dir() -> Path:
    """Where downloads and decoded arrays are kept: $MINICNN_CACHE if set, else ~/.cache/minicnn."""
    env = os.environ.get("MINICNN_CACHE")
    if env:
        return Path(env).expanduser().absolute()
    return Path.home() / ".cache" / "minicnn"


def download(url, dest, md5, progress=True, timeout=30.0) -> Path:
    """Download `url` to `dest` and check its md5; returns `dest` as a Path.

    Inputs:
    - url: any URL urllib can open (https://..., or file://... in tests)
    - dest: the final file name; its folder is created if needed
    - md5: the expected hex digest; a mismatch deletes the download and raises DataError
    - progress: show a tqdm bar of bytes received
    - timeout: seconds to wait for the server before giving up

    The bytes go to a temporary file next to `dest`, which is renamed to `dest` only after the
    checksum matches, so `dest` either does not exist or holds the complete, verified file.
    """
    dest = Path(dest)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (OSError, http.client.HTTPException) as err:  # urllib.error.URLError is an OSError
        reason = (f"the server answered {err.code} {err.reason}"
                  if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err))
        raise DataError(
            f"could not download {url}: {reason}. Without internet access, "
            f"fetch the file on another machine (or use any CIFAR-10 image folder) and pass its "
            f"path with --data PATH or the environment variable MINICNN_DATA=PATH."
        ) from err

    try:
        with response, atomic_write(dest) as tmp, open(tmp, "wb") as f:
            total = response.headers.get("Content-Length")
            total = int(total) if total is not None else None
            got_md5, received = _copy(response, f, total=total, desc=f"downloading {dest.name}",
                                      progress=progress)
            if total is not None and received != total:
                raise DataError(f"download of {url} stopped at {received:,} of {total:,} bytes")
            if got_md5 != md5.lower():
                raise DataError(
                    f"checksum mismatch for {url}: got md5 {got_md5}, expected {md5} "
                    f"({received:,} bytes received). The download was deleted; try again, "
                    f"or pass a local copy with --data PATH or MINICNN_DATA=PATH."
                )
    except (OSError, http.client.HTTPException) as err:  # connection lost, disk full, ...
        raise DataError(f"downloading {url} to {dest} failed: {err}") from err
    return dest


def _copy(response, f, total, desc, progress):
    """Copy a response into an open file in 1 MiB chunks; returns (md5 hex digest, bytes)."""
    digest = hashlib.md5()
    received = 0
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
              disable=not progress) as bar:
        while chunk := response.read(1 << 20):
            f.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return digest.hexdigest(), received
