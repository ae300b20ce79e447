"""checkov over terraform/, with the settings and skip list of terraform/.checkov.yaml.

checkov pins an old `packaging`, so it lives in its own virtual environment, `.venv-checkov`
(`make .venv-checkov/bin/checkov` builds it; GENLAB_CHECKOV points elsewhere). Locally a missing
checkov skips these tests with that reason; under CI (CI=true) it fails them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "terraform" / ".checkov.yaml"


def _checkov() -> Path:
    path = Path(os.environ.get("GENLAB_CHECKOV", REPO / ".venv-checkov" / "bin" / "checkov"))
    if not path.is_file():
        message = f"checkov not found at {path}: run `make .venv-checkov/bin/checkov` (or set GENLAB_CHECKOV)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*args: str) -> dict:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = subprocess.run(
        [str(_checkov()), "--config-file", str(CONFIG), "--output", "json", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov gave no JSON report (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform, f"checkov scanned no Terraform: {[r.get('check_type') for r in reports]}"
    return terraform[0]


def _skip_list() -> list[str]:
    return re.findall(r"^\s*-\s*(CKV2?_[A-Z0-9]+_\d+)", CONFIG.read_text(encoding="utf-8"), flags=re.M)


def test_checkov_passes():
    report = _run()
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['check_name']} — {c['resource']} ({c['file_path']}:{c['file_line_range']})"
        for c in report["results"]["failed_checks"]
    ]
    print(
        f"\ncheckov {summary.get('checkov_version')}: passed={summary['passed']} failed={summary['failed']} "
        f"skipped={summary['skipped']} (plus {len(_skip_list())} checks excluded by terraform/.checkov.yaml: "
        f"{', '.join(_skip_list())})"
    )
    assert summary["parsing_errors"] == 0, "checkov could not parse some .tf files"
    assert summary["passed"] > 50, "checkov ran suspiciously few checks"
    assert not failed, "checkov failures:\n" + "\n".join(failed)


def test_checkov_skip_list_is_not_stale():
    """Every skipped check still fails without its skip (otherwise drop it from the list)."""
    skipped = _skip_list()
    if not skipped:
        return  # no skipped checks, so none can be stale
    report = _run("--skip-check", "CKV_NONE_0", "--check", ",".join(skipped))
    still_failing = {c["check_id"] for c in report["results"]["failed_checks"]}
    stale = sorted(set(skipped) - still_failing)
    assert not stale, f"these checks pass now; remove them from terraform/.checkov.yaml: {stale}"
