"""What the integration tests wait for on a real cluster, and what they print when it goes wrong.

Readiness is checked by name (the deployment lists `make cluster-up` waits on, read from
mk/cluster.mk so there is one list), and a failure carries the state of whatever was not ready:
deployment conditions, pod phases and container waiting reasons (ImagePullBackOff names the image),
recent events and the last log lines of each container.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL = 50


def make_list(variable: str) -> list[str]:
    """A `NAME ?= a b \\ c` list from mk/cluster.mk."""
    text = (ROOT / "mk/cluster.mk").read_text()
    m = re.search(rf"^{variable} \?=((?:.*\\\n)*.*)$", text, flags=re.M)
    assert m, f"mk/cluster.mk defines no {variable}"
    return m.group(1).replace("\\", " ").split()


def _available(dep) -> bool:
    return any(c.type == "Available" and c.status == "True" for c in (dep.status.conditions or []))


def wait_deployments(api, namespace: str, names: list[str], timeout_s: float) -> list[str]:
    """Poll the named deployments until all are Available; return those that are not (or missing)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout_s
    pending = list(names)
    while pending:
        still = []
        for name in pending:
            try:
                if not _available(apps.read_namespaced_deployment(name, namespace, _request_timeout=10)):
                    still.append(name)
            except ApiException as e:
                if e.status != 404:
                    raise
                still.append(name)
        pending = still
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(5)
    return pending


def pod_report(api, namespace: str, label_selector: str = "", since: float = 0.0) -> str:
    """Phase, waiting/terminated reasons, events and log tails of the matching pods."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    lines = []
    pods = core.list_namespaced_pod(namespace, label_selector=label_selector or None).items
    for pod in pods:
        created = pod.metadata.creation_timestamp
        if since and created is not None and created.timestamp() < since:
            continue
        name = pod.metadata.name
        lines.append(f"--- pod {namespace}/{name}: {pod.status.phase}")
        for cs in (pod.status.init_container_statuses or []) + (pod.status.container_statuses or []):
            state = cs.state
            if state.waiting:
                lines.append(f"    {cs.name}: waiting {state.waiting.reason}: {state.waiting.message or ''}")
            elif state.terminated:
                t = state.terminated
                lines.append(
                    f"    {cs.name}: terminated {t.reason} (exit {t.exit_code}), restarts {cs.restart_count}"
                )
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        for ev in events[-5:]:
            lines.append(f"    event {ev.type} {ev.reason}: {ev.message}")
        for c in pod.spec.containers:
            try:
                tail = core.read_namespaced_pod_log(name, namespace, container=c.name, tail_lines=LOG_TAIL)
            except ApiException as e:
                tail = f"(no log: {e.reason})"
            lines.append(f"    log {c.name} (last {LOG_TAIL} lines):")
            lines += ["      " + line for line in (tail or "").splitlines()]
    return "\n".join(lines) or f"(no pods in {namespace} matching {label_selector!r})"


def deployment_report(api, namespace: str, names: list[str]) -> str:
    """Conditions and pods of each named deployment (a missing one is said to be missing)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    apps = client.AppsV1Api(api)
    out = []
    for name in names:
        try:
            dep = apps.read_namespaced_deployment(name, namespace)
        except ApiException as e:
            out.append(
                f"=== deployment {namespace}/{name}: {e.status} {e.reason} (was it applied to {namespace}?)"
            )
            continue
        out.append(f"=== deployment {namespace}/{name}")
        for c in dep.status.conditions or []:
            out.append(f"    condition {c.type}={c.status} {c.reason}: {c.message}")
        selector = ",".join(f"{k}={v}" for k, v in (dep.spec.selector.match_labels or {}).items())
        out.append(pod_report(api, namespace, selector))
    return "\n".join(out)


def run_report(api, namespace: str, since: float) -> str:
    """After a failed run: the TFJobs and pods created since `since`, with their logs."""
    from kubernetes import client

    out = []
    jobs = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "kubeflow.org", "v1", namespace, "tfjobs"
    )
    for job in jobs["items"]:
        conditions = [
            f"{c['type']}={c['status']} {c.get('reason', '')}"
            for c in job.get("status", {}).get("conditions", [])
        ]
        images = sorted(
            {
                c["image"]
                for spec in job["spec"]["tfReplicaSpecs"].values()
                for c in spec["template"]["spec"]["containers"]
            }
        )
        out.append(
            f"=== tfjob {namespace}/{job['metadata']['name']}: {'; '.join(conditions)} images={images}"
        )
    out.append(pod_report(api, namespace, since=since))
    return "\n".join(out)
