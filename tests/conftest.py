import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """Run the suite with one BLAS thread: recurrent loops multiply small matrices at every
    step, where a second OpenBLAS thread gains little and, on a shared machine, makes small
    models 10-50x slower. (The parity tests' values do not depend on it.)"""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
