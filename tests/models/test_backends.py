"""The kernel backends of c2p4d.kernels give the same model outputs.

The backend is chosen with the C2P4D_KERNELS environment variable (read per call by
c2p4d.kernels). Until the kernels package honours it, a bogus backend name is accepted
silently and this comparison would compare torch with torch: then the test skips.
"""

import pytest
import torch

from c2p4d import kernels

BACKENDS = ("torch", "numba")


def backend_switch_works(monkeypatch) -> bool:
    monkeypatch.setenv("C2P4D_KERNELS", "no-such-backend")
    try:
        kernels.farthest_point_sample(torch.rand(1, 4, 3), 2)
    except ValueError:
        return True
    finally:
        monkeypatch.delenv("C2P4D_KERNELS")
    return False


def test_kernel_backends_give_the_same_model_output(case, tiny, monkeypatch):
    if not backend_switch_works(monkeypatch):
        pytest.skip("c2p4d.kernels does not select backends by C2P4D_KERNELS yet")
    name, task = case
    clip, features = tiny.inputs(task)
    outputs = {}
    for backend in BACKENDS:
        monkeypatch.setenv("C2P4D_KERNELS", backend)
        model = tiny.build(name, task, seed=5)
        outputs[backend] = model(clip, features)
    for backend in BACKENDS[1:]:
        torch.testing.assert_close(outputs[backend], outputs[BACKENDS[0]], rtol=1e-5, atol=1e-5)
