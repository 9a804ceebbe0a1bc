"""How mmbench reaches Ray: a given cluster as it is, otherwise always a new local one sized for the workers."""

import pytest

from mmbench.runner.ray_backend import connect


@pytest.fixture
def fake_ray(monkeypatch):
    ray = pytest.importorskip("ray")
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return calls


def test_without_an_address_a_new_local_ray_is_started_never_a_leftover_joined(fake_ray):
    """A bare ray.init() joins the cluster `ray start` last recorded on the machine (another job's, or a dead one)
    and then fails on num_cpus; address="local" starts a new one."""
    connect(None, workers=2, cpus_per_trial=1)
    assert fake_ray[0]["address"] == "local" and fake_ray[0]["num_cpus"] == 2


def test_an_address_or_ray_address_is_joined_as_it_is(fake_ray, monkeypatch):
    connect("10.0.0.1:6379", workers=2, cpus_per_trial=1)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.2:6379")
    connect(None, workers=2, cpus_per_trial=1)
    assert [c["address"] for c in fake_ray] == ["10.0.0.1:6379", "10.0.0.2:6379"]
    assert all("num_cpus" not in c for c in fake_ray)


def test_missing_ray_is_one_clear_error(monkeypatch):
    import sys

    from mmbench.errors import MMBenchError
    from mmbench.runner.ray_backend import connect

    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the `ray` extra looks like
    with pytest.raises(MMBenchError, match=r"--backend ray needs Ray, which is not installed; fix: pip install 'mmbench\[ray\]'"):
        connect(None, 1, 1)
