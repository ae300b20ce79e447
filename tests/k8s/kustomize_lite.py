"""A tiny renderer for the kustomize features k8s/ uses, so the tests run without kubectl.

Supported (and nothing else, on purpose): ``resources`` (files and local directories),
``namespace``, ``labels[].pairs`` (metadata.labels only), ``patches`` with an inline JSON 6902
``patch`` of ``add``/``replace`` ops selected by kind+name, ``configMapGenerator`` with
``envs`` (hash suffix disabled) and ``replacements`` (source ``data.<key>``, target a dotted
path such as ``parameters.network`` or ``metadata.annotations.[<key>]``, created when missing). Resources annotated ``config.kubernetes.io/local-config``
are dropped, as kustomize does, and a ServiceAccount subject without a namespace gets that of the
same-named ServiceAccount in the build (kustomize's name references). When ``kubectl`` is installed the tests check this renderer
against ``kubectl kustomize``; a kustomization using anything else raises.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

KNOWN = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "patches",
    "configMapGenerator",
    "replacements",
}
CLUSTER_SCOPED = {
    "Namespace",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
}
LOCAL_CONFIG = "config.kubernetes.io/local-config"


def _pointer(doc: dict, path: str, op: str, value) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]
    *parents, last = parts
    for p in parents:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    if op == "replace" and last not in doc:
        raise KeyError(f"replace of missing {path}")
    if op not in ("add", "replace"):
        raise NotImplementedError(op)
    doc[last] = copy.deepcopy(value)


def _fill_subject_namespaces(objs: list[dict]) -> None:
    """A ServiceAccount subject without a namespace gets that of the same-named ServiceAccount
    in the build, as kustomize's name-reference transformer does; others stay as they are."""
    accounts = {
        o["metadata"]["name"]: o["metadata"].get("namespace") for o in objs if o["kind"] == "ServiceAccount"
    }
    for o in objs:
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            for s in o.get("subjects", []):
                if s.get("kind") == "ServiceAccount" and not s.get("namespace") and accounts.get(s["name"]):
                    s["namespace"] = accounts[s["name"]]


def render(directory: str | Path) -> list[dict]:
    directory = Path(directory)
    k = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(k) - KNOWN
    if unknown:
        raise NotImplementedError(f"{directory}: kustomize_lite does not support {sorted(unknown)}")
    objs: list[dict] = []
    for res in k.get("resources", []):
        path = directory / res
        if path.is_dir():
            objs += render(path)
        else:
            objs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for gen in k.get("configMapGenerator", []):
        data = {}
        for env in gen.get("envs", []):
            for line in (directory / env).read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    key, _, val = line.partition("=")
                    data[key.strip()] = val.strip()
        meta = {"name": gen["name"]}
        if gen.get("namespace"):
            meta["namespace"] = gen["namespace"]
        if gen.get("options", {}).get("annotations"):
            meta["annotations"] = dict(gen["options"]["annotations"])
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    if "namespace" in k:
        for o in objs:
            if o["kind"] not in CLUSTER_SCOPED:
                o["metadata"]["namespace"] = k["namespace"]
    for entry in k.get("labels", []):
        for o in objs:
            o["metadata"].setdefault("labels", {}).update(entry["pairs"])
    for patch in k.get("patches", []):
        target = patch["target"]
        hits = [o for o in objs if o["kind"] == target["kind"] and o["metadata"]["name"] == target["name"]]
        if not hits:
            raise LookupError(f"patch target {target} not found")
        for o in hits:
            for op in yaml.safe_load(patch["patch"]):
                _pointer(o, op["path"], op["op"], op.get("value"))
    if "namespace" in k:
        _fill_subject_namespaces(objs)
    for rep in k.get("replacements", []):
        src = rep["source"]
        (cm,) = [o for o in objs if o["kind"] == src["kind"] and o["metadata"]["name"] == src["name"]]
        section, key = src["fieldPath"].split(".", 1)
        value = cm[section][key]
        for target in rep["targets"]:
            sel = target["select"]
            for o in objs:
                if o["kind"] == sel["kind"] and o["metadata"]["name"] == sel["name"]:
                    for fp in target["fieldPaths"]:
                        head, _, bracket = fp.partition(".[")
                        keys = head.split(".") + ([bracket.rstrip("]")] if bracket else [])
                        node = o
                        for key in keys[:-1]:
                            node = node.setdefault(key, {})
                        node[keys[-1]] = value
    return [o for o in objs if (o["metadata"].get("annotations") or {}).get(LOCAL_CONFIG) != "true"]
