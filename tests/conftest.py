import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config):
    """One thread for the compiled recurrent loops in each test process: ``make test``
    runs two processes on the two cores, and threads waiting for a busy core at every
    step make a loop many times slower. The threaded loops are tested by setting their
    thread count explicitly (tests/test_fastpath.py, tests/test_gemm.py)."""
    from rnnkit import kernels

    if kernels.available():
        import numba

        numba.set_num_threads(1)
