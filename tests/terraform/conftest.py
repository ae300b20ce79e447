"""Fixtures for the offline Terraform checks: terraform/ parsed with python-hcl2.

python-hcl2 changed its output between releases (4.x gives bare strings and `${string}` types,
newer ones keep the quotes of string literals and quoted block labels, and add `__is_block__`
markers). `normalize` turns both into one shape, so the tests read plain values:
string literals without quotes, expressions as `${...}`, blocks as lists of dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TF_ROOT = REPO / "terraform"
MODULES = ("gke", "storage", "iam", "kubeflow", "registry")
EXAMPLES = ("gke-gpu",)

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed (it is in genlab's dev extras)")


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


def normalize(value):
    """One shape for every python-hcl2 version (see the module docstring)."""
    if isinstance(value, dict):
        return {
            _unquote(k): normalize(v)
            for k, v in value.items()
            if not (k.startswith("__") and k.endswith("__"))
        }
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def type_expr(value) -> str:
    """A variable's `type` as written (`string`, `list(object({...}))`), whatever the version."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return text


@dataclass
class TfDir:
    """The blocks of one Terraform directory (a module or an example), by kind."""

    path: Path
    files: dict[str, dict] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, object] = field(default_factory=dict)
    terraform: list[dict] = field(default_factory=list)
    providers: dict[str, dict] = field(default_factory=dict)

    def resource(self, rtype: str, name: str) -> dict:
        assert (rtype, name) in self.resources, f"{self.path.name}: no resource {rtype}.{name}"
        return self.resources[(rtype, name)]

    def resources_of(self, rtype: str) -> dict[str, dict]:
        return {n: body for (t, n), body in self.resources.items() if t == rtype}

    def resolve(self, value):
        """A `${var.X}` value becomes X's default; anything else is returned as is."""
        if isinstance(value, str):
            m = re.fullmatch(r"\$\{var\.(\w+)\}", value)
            if m:
                var = self.variables.get(m.group(1))
                assert var is not None, f"{self.path.name}: unknown variable {m.group(1)}"
                return var.get("default")
        return value

    # the helpers below, reachable from the tests through any TfDir
    @staticmethod
    def blocks(body: dict, name: str) -> list[dict]:
        return blocks(body, name)

    @staticmethod
    def one_block(body: dict, name: str) -> dict:
        return one_block(body, name)

    @staticmethod
    def type_expr(value) -> str:
        return type_expr(value)

    def text(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(self.path.glob("*.tf")))


def load_dir(path: Path) -> TfDir:
    tf = TfDir(path=path)
    for file in sorted(path.glob("*.tf")):
        with file.open(encoding="utf-8") as fh:
            parsed = normalize(hcl2.load(fh))
        tf.files[file.name] = parsed
        for block in parsed.get("variable", []):
            tf.variables.update(block)
        for block in parsed.get("output", []):
            tf.outputs.update(block)
        for block in parsed.get("module", []):
            tf.modules.update(block)
        for block in parsed.get("locals", []):
            tf.locals.update(block)
        for block in parsed.get("provider", []):
            tf.providers.update(block)
        tf.terraform.extend(parsed.get("terraform", []))
        for kind, target in (("resource", tf.resources), ("data", tf.data)):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        target[(rtype, name)] = body
    return tf


def blocks(body: dict, name: str) -> list[dict]:
    """A nested block as a list (python-hcl2 returns blocks as lists of dicts)."""
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


def one_block(body: dict, name: str) -> dict:
    found = blocks(body, name)
    assert len(found) == 1, f"expected exactly one {name} block, found {len(found)}"
    return found[0]


def all_tf_files() -> list[Path]:
    return sorted(p for p in TF_ROOT.rglob("*.tf") if ".terraform" not in p.parts)


def tf_dirs() -> list[Path]:
    return [TF_ROOT / "modules" / m for m in MODULES] + [TF_ROOT / "examples" / e for e in EXAMPLES]


@pytest.fixture(scope="session")
def tf_root() -> Path:
    return TF_ROOT


@pytest.fixture(scope="session")
def tree() -> dict[str, TfDir]:
    """Every module and example, parsed, keyed by `modules/<name>` or `examples/<name>`."""
    return {str(p.relative_to(TF_ROOT)): load_dir(p) for p in tf_dirs()}
