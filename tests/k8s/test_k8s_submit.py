"""genlab.submit against a fake KFP API server (HTTP level, 127.0.0.1)."""

import pytest

from genlab.errors import ClusterError, LaunchError
from genlab.submit import check_host, submit
from tests.k8s.fake_kfp import FakeKFP, tiny


def test_submit_package_returns_run_id(serve, package, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/kfp/context.json
    fake = FakeKFP()
    lines = []
    run_id = submit(package, host=serve(fake), arguments={"text": "yo"}, run_name="r", log=lines.append)
    assert run_id == "run-1"
    (run,) = fake.runs
    assert run["display_name"] == "r" and run["experiment_id"] == "exp-1"
    assert run["runtime_config"]["parameters"] == {"text": "yo"}
    assert run["service_account"] == "genlab-pipeline"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "tiny"
    assert fake.experiments[0]["display_name"] == "genlab"
    assert "submitted run run-1" in lines[0]


def test_submit_function_and_wait(serve, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("kfp.client.client.time.sleep", lambda s: None)
    fake = FakeKFP()
    assert submit(tiny, host=serve(fake), wait=True, log=lambda s: None) == "run-1"
    assert fake.gets >= 2


def test_failed_run_is_a_launch_error(serve, package, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("kfp.client.client.time.sleep", lambda s: None)
    with pytest.raises(LaunchError, match=r"KFP run run-1 on .* ended FAILED"):
        submit(package, host=serve(FakeKFP(final_state="FAILED")), wait=True, log=lambda s: None)


def test_unreachable_host_names_it():
    with pytest.raises(ClusterError, match=r"KFP host http://127.0.0.1:9 is unreachable .*port-forward"):
        check_host("http://127.0.0.1:9", timeout_s=2)


def test_auth_failure_and_login_page(serve):
    with pytest.raises(ClusterError, match=r"refused the request \(403"):
        check_host(serve(FakeKFP(forbid=True)))
    with pytest.raises(ClusterError, match=r"login page"):
        check_host(serve(FakeKFP(login="html")))


def test_missing_package_is_clear(serve, tmp_path):
    with pytest.raises(LaunchError, match="does not exist"):
        submit(tmp_path / "nope.yaml", host=serve(FakeKFP()), log=lambda s: None)
