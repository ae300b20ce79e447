"""Make the repository root importable (``pipelines`` is not an installed package); the fake KFP
server's fixtures."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def serve(loopback):
    """``serve(fake)`` starts a FakeKFP (tests/k8s/fake_kfp.py) and returns its URL."""
    return lambda fake: loopback(fake.handler())


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The compiled package of fake_kfp.tiny."""
    from kfp import compiler

    from tests.k8s.fake_kfp import tiny

    path = tmp_path_factory.mktemp("pkg") / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path
