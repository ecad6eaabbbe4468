"""Importing minicnn changes nothing about the process it is imported into, and the fast
route's set-up (fast/__init__.py) is what it says: BLAS threads only while a fast op runs,
malloc's options the first time the fast route runs.

Each check runs in a fresh interpreter, so that nothing imported by other tests counts.
"""
import json
import subprocess
import sys

import pytest

# Reads glibc's malloc_info(): how many arenas malloc has made (one per thread that
# allocated, unless M_ARENA_MAX limits them), after a new thread has allocated.
ARENAS = '''
import ctypes, os, tempfile, threading
import numpy as np

def arenas_after_a_new_thread_allocates():
    kept = []
    thread = threading.Thread(target=lambda: kept.append(np.ones(1000)))
    thread.start(); thread.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    path = tempfile.mktemp()
    f = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, f)
    libc.fclose(f)
    text = open(path).read()
    os.unlink(path)
    return text.count("<heap nr=")
'''


def run_python(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_leaves_blas_threads_and_the_environment_alone():
    state = run_python('''
import json, os
import numpy as np
from threadpoolctl import threadpool_info
def threads():
    return {i["filepath"]: i["num_threads"] for i in threadpool_info()}
before, env = threads(), dict(os.environ)
import minicnn, minicnn.visualize, minicnn.data
after = threads()
print(json.dumps({"before": before, "after": {k: after.get(k) for k in before},
                  "env_same": dict(os.environ) == env}))
''')
    assert state["before"], "threadpoolctl found no BLAS in NumPy"
    assert state["after"] == state["before"]
    assert state["env_same"]


def test_blas_threads_are_back_after_the_fast_route_has_run():
    """A fast training step runs OpenBLAS on one thread; afterwards it has its own count
    again, so the user's NumPy code keeps all its threads."""
    state = run_python('''
import json
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
import minicnn, minicnn.functional as F
with threadpool_limits(2, user_api="blas"):          # two, whatever the machine's count
    model = minicnn.models.reference_net()
    x = np.zeros((8, 3, 32, 32), dtype=np.float32)
    F.cross_entropy(model(minicnn.Tensor(x)), np.arange(8)).backward()
    print(json.dumps([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]))
''')
    assert state and all(n == 2 for n in state)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_info is glibc's")
def test_malloc_is_left_alone_by_import_and_set_up_by_the_first_fast_op():
    """By default every thread that allocates gets an arena of its own; the fast route
    asks for one arena for all (fast/memory.py), but only once it runs, and not at all
    with MINICNN_MALLOC=default."""
    imported = run_python(ARENAS + '''
import json, minicnn, minicnn.visualize, minicnn.data
print(json.dumps(arenas_after_a_new_thread_allocates()))
''')
    after_a_fast_op = run_python(ARENAS + '''
import json, numpy as np, minicnn, minicnn.functional as F
F.relu(minicnn.Tensor(np.ones(3)))
print(json.dumps(arenas_after_a_new_thread_allocates()))
''')
    opted_out = run_python(ARENAS + '''
import json, os, numpy as np
os.environ["MINICNN_MALLOC"] = "default"
import minicnn, minicnn.functional as F
F.relu(minicnn.Tensor(np.ones(3)))
print(json.dumps(arenas_after_a_new_thread_allocates()))
''')
    assert imported >= 2 and opted_out >= 2          # the new thread got its own arena
    assert after_a_fast_op == 1                      # one arena for every thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_big_array_freed_and_made_again_costs_no_page_faults_after_a_fast_op():
    """An array above glibc's largest mmap threshold (32 MB) comes straight from the kernel
    by default, so making it again after freeing it touches fresh pages; after the fast
    route's set-up it is the same heap memory again."""
    code = '''
import json, os, resource, sys
import numpy as np
if sys.argv[1] == "default":
    os.environ["MINICNN_MALLOC"] = "default"
import minicnn, minicnn.functional as F
F.relu(minicnn.Tensor(np.ones(3)))                   # the first fast op: malloc's set-up
a = np.ones(16 * 2**20, np.float32)                  # 64 MB, every page touched
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(16 * 2**20, np.float32)
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before))
'''
    faults = {}
    for mode in ("fast", "default"):
        done = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        faults[mode] = json.loads(done.stdout)
    assert faults["fast"] <= 10                      # the heap's pages, reused
    assert faults["default"] >= 32                   # fresh pages: 16,384 of 4 KB, or at
                                                     # least 32 of 2 MB (transparent huge pages)
