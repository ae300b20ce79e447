"""RBAC from the repository's own manifests (k8s/base/rbac.yaml), evaluated like the RBAC authorizer.

A request is allowed when a RoleBinding in the request's namespace names the caller's service
account as a subject and its Role has a rule matching the API group, the resource (with its
subresource, e.g. ``pods/log``), the verb and, when the rule lists them, the resource name
(kubernetes/pkg/apis/rbac/v1/evaluation_helpers.go: RuleAllows). No ClusterRoles: genlab
ships none, so nothing else can grant access.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "k8s" / "base"


@dataclass(frozen=True)
class Request:
    verb: str  # get list watch create delete ...
    group: str  # "" for the core API
    resource: str  # tfjobs, pods, pods/log
    namespace: str
    name: str | None = None


def _matches(values: list[str], value: str) -> bool:
    return "*" in values or value in values


class RBAC:
    def __init__(self, roles: dict[tuple[str, str], dict], bindings: list[dict]):
        self.roles = roles  # (namespace, name) -> Role
        self.bindings = bindings

    @classmethod
    def from_manifests(cls, base: Path = BASE) -> RBAC:
        """The Roles and RoleBindings of ``k8s/base`` in the kustomization's namespace."""
        kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
        namespace = kustomization["namespace"]
        roles, bindings = {}, []
        for doc in yaml.safe_load_all((base / "rbac.yaml").read_text()):
            if not doc:
                continue
            meta = doc.setdefault("metadata", {})
            meta.setdefault("namespace", namespace)
            if doc["kind"] == "Role":
                roles[(meta["namespace"], meta["name"])] = doc
            elif doc["kind"] == "RoleBinding":
                bindings.append(doc)
            else:
                raise ValueError(f"{base / 'rbac.yaml'}: unexpected kind {doc['kind']}")
        return cls(roles, bindings)

    def allows(self, namespace: str, service_account: str, req: Request) -> bool:
        """Whether ``system:serviceaccount:<namespace>:<service_account>`` may make ``req``."""
        for binding in self.bindings:
            if binding["metadata"]["namespace"] != req.namespace:
                continue
            subjects = binding.get("subjects") or []
            if not any(
                s.get("kind") == "ServiceAccount"
                and s.get("name") == service_account
                and s.get("namespace", binding["metadata"]["namespace"]) == namespace
                for s in subjects
            ):
                continue
            ref = binding["roleRef"]
            role = self.roles.get((req.namespace, ref["name"])) if ref["kind"] == "Role" else None
            if role and any(self._rule_allows(rule, req) for rule in role.get("rules") or []):
                return True
        return False

    @staticmethod
    def _rule_allows(rule: dict, req: Request) -> bool:
        if not _matches(rule.get("verbs") or [], req.verb):
            return False
        if not _matches(rule.get("apiGroups") or [], req.group):
            return False
        if not _matches(rule.get("resources") or [], req.resource):
            return False
        names = rule.get("resourceNames") or []
        return not names or (req.name is not None and req.name in names)
