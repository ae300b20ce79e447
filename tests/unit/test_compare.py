"""genlab compare's page from run records: metrics beside floors, and a warning when the runs'
FIDs come from different feature extractors."""

import pytest

from genlab.compare import Run, build, compare
from genlab.errors import DataError


def run(name, sha, fid):
    metrics = {"fid": fid, "fid_floor": 0.01, "feature_extractor_sha256": sha, "elbo": -90.0}
    return Run(
        name=name, folder=name, model={"family": "dcgan", "steps": 6, "experiment": {}}, metrics=metrics
    )


def test_same_extractor_compares_and_different_extractors_warn():
    page = build([run("a", "1" * 64, 0.5), run("b", "1" * 64, 0.25)])
    assert (
        "<td>fid</td><td>0.5 <small>(floor 0.01)</small></td><td>0.25 <small>(floor 0.01)</small></td>"
        in page
    )
    assert page.index("<td>fid</td>") < page.index("<td>elbo</td>")  # headline metrics first
    assert "not comparable" not in page
    assert "not comparable" in build([run("a", "1" * 64, 0.5), run("b", "2" * 64, 0.25)])


def test_compare_needs_a_run(tmp_path):
    with pytest.raises(DataError, match="name at least one run folder"):
        compare([], str(tmp_path / "c.html"))
