"""available_devices / resolve_device, with GPUs simulated by monkeypatching torch."""
import pytest
import torch

import gradviz
from gradviz.core.devices import DeviceError, available_devices, resolve_device


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_public_names_are_the_core_ones():
    assert gradviz.available_devices is available_devices
    assert gradviz.DeviceError is DeviceError
    assert issubclass(DeviceError, RuntimeError)


def test_cpu_only_machine(no_gpu):
    assert available_devices() == ["cpu"]
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


def test_missing_cuda_is_a_clear_error(no_gpu):
    with pytest.raises(DeviceError) as info:
        resolve_device("cuda:0")
    assert str(info.value) == "cuda:0 is not available on this machine; available: cpu"
    with pytest.raises(DeviceError, match="cuda:0 is not available"):
        resolve_device("cuda")  # plain "cuda" means the first GPU


def test_simulated_gpus_are_listed_and_resolved(two_gpus):
    assert available_devices() == ["cpu", "cuda:0", "cuda:1"]
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match=r"cuda:2 is not available on this machine; available: cpu, cuda:0, cuda:1"):
        resolve_device("cuda:2")


def test_mps_is_listed_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert available_devices() == ["cpu", "mps"]
    assert resolve_device("auto") == torch.device("mps")


def test_broken_driver_counts_as_no_gpu(monkeypatch):
    def broken():
        raise RuntimeError("driver too old")

    monkeypatch.setattr(torch.cuda, "is_available", broken)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert available_devices() == ["cpu"]


@pytest.mark.parametrize("name", ["banana", "cuda:x", "", "tpu:0"])
def test_names_that_are_no_device(no_gpu, name):
    with pytest.raises(DeviceError, match="available|device name"):
        resolve_device(name)


def test_session_on_a_missing_device_fails_before_building(no_gpu, lenet_spec):
    with pytest.raises(DeviceError, match="cuda:0 is not available"):
        gradviz.TrainingSession(lenet_spec, device="cuda:0")
