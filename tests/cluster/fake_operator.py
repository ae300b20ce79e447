"""A fake Training Operator: turns each TFJob into pods (run by the fake kubelet) and reports status.

Mirrors kubeflow/training-operator v1.9 (read from upstream, not copied):
- pods (pkg/controller.v1/common/pod.go, createNewPod): one per replica type and index, named
  ``<job>-<rtype lower>-<i>``, labelled ``training.kubeflow.org/{operator-name,job-name,
  replica-type,replica-index}`` (+ ``job-role=master`` on the master role: Chief/Master, else
  worker 0), owned by the TFJob, pod ``restartPolicy`` = the replica's (``ExitCode`` -> ``Never``).
- TF_CONFIG (pkg/controller.v1/tensorflow/tensorflow.go, genTFConfigJSONStr/genClusterSpec; set by
  SetClusterSpec in tfjob_controller.go only when the job has more than one replica in all):
  ``{"cluster": {<rtype lower>: ["<job>-<rtype>-<i>.<ns>.svc:<port>", ...]}, "task": {"type",
  "index"}, "environment": "cloud"}``, port = the ``tensorflow`` container's ``tfjob-port`` or 2222,
  Evaluator not in the cluster. The pod object carries exactly that; the PROCESS gets the same
  JSON with each address mapped to a loopback port (the one deviation: no cluster DNS).
- status (pkg/controller.v1/common/job.go ReconcileJobs, tfjob_controller.go UpdateJobStatus,
  pkg/util/status.go UpdateJobConditions): Created on creation; Running while a replica runs;
  Succeeded when worker 0 succeeded (no Chief) or the Chief/Master succeeded; a pod in phase
  Failed with OnFailure/Always is deleted and recreated with a Restarting condition; backoffLimit:
  the restartCounts of Running pods (OnFailure/Always replicas) summed, >= the limit (> 0 when
  it is 0) fails the job ("... reached the specified backoff limit") after DELETING ALL its pods
  (cleanPodPolicy is not consulted on that path); a finished job's pods are cleaned per
  cleanPodPolicy (None keeps them).
Not simulated: services (no DNS), TTL deletion, activeDeadlineSeconds, gang scheduling, suspend.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time

from tests.cluster.fake_kubelet import Kubelet, now

LABEL = "training.kubeflow.org/"
ORDER = ("Chief", "Evaluator", "Master", "PS", "Worker")  # UpdateJobStatus iterates in this order
DEFAULT_PORT, PORT_NAME = 2222, "tfjob-port"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def update_condition(status: dict, ctype: str, reason: str, message: str, value: str = "True") -> None:
    """pkg/util/status.go setCondition/filterOutCondition: one condition per type, newest last."""
    conds = status.setdefault("conditions", [])
    if any(c["type"] == "Failed" and c["status"] == "True" for c in conds):
        return  # a failed job's conditions never change again
    current = next((c for c in conds if c["type"] == ctype), None)
    if current and current["status"] == value and current["reason"] == reason:
        return
    new = {"type": ctype, "status": value, "reason": reason, "message": message, "lastUpdateTime": now()}
    new["lastTransitionTime"] = (
        current["lastTransitionTime"] if current and current["status"] == value else now()
    )
    kept = []
    for c in conds:
        if c["type"] == ctype or {c["type"], ctype} == {"Running", "Restarting"}:
            continue
        if ctype in ("Failed", "Succeeded") and c["type"] == "Running":
            c = {**c, "status": "False"}
        kept.append(c)
    status["conditions"] = [*kept, new]


def _true(status: dict, ctype: str) -> bool:
    return any(c["type"] == ctype and c["status"] == "True" for c in status.get("conditions") or [])


class Operator:
    def __init__(self, store, kubelet: Kubelet, poll_s: float = 0.05):
        self.store = store
        self.kubelet = kubelet
        self.poll_s = poll_s
        self.ports: dict[str, int] = {}  # "<job>-<rtype>-<i>.<ns>.svc:<port>" -> loopback port
        self.events: list[str] = []  # what the operator did, for tests and failure messages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-operator")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.store.lock:
                    self.kubelet.sync()
                    for job in list(self.store.tfjobs.values()):
                        self.reconcile(job)
            except Exception as e:  # keep the fake cluster alive; the test sees the event
                self.events.append(f"operator error: {type(e).__name__}: {e}")
            time.sleep(self.poll_s)

    # ----------------------------------------------------------------- TF_CONFIG
    @staticmethod
    def _port(rspec: dict) -> int:
        for c in rspec["template"]["spec"]["containers"]:
            if c["name"] == "tensorflow":
                for p in c.get("ports") or []:
                    if p.get("name") == PORT_NAME:
                        return p["containerPort"]
        return DEFAULT_PORT

    def cluster_spec(self, job: dict) -> dict[str, list[str]]:
        name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
        cluster = {}
        for rtype, rspec in job["spec"]["tfReplicaSpecs"].items():
            if rtype == "Evaluator":
                continue
            rt = rtype.lower()
            port = self._port(rspec)
            cluster[rt] = [f"{name}-{rt}-{i}.{ns}.svc:{port}" for i in range(rspec.get("replicas", 1))]
        return cluster

    def tf_config(self, job: dict, rt: str, index: int) -> tuple[str, str] | None:
        """(TF_CONFIG as the operator writes it, the same with loopback addresses) or None."""
        specs = job["spec"]["tfReplicaSpecs"]
        if sum(s.get("replicas", 1) for s in specs.values()) == 1:
            return None  # isDistributed: a single replica gets no TF_CONFIG
        cluster = self.cluster_spec(job)
        config = {"cluster": cluster, "task": {"type": rt, "index": index}, "environment": "cloud"}
        for addr in (a for addrs in cluster.values() for a in addrs):
            self.ports.setdefault(addr, free_port())
        mapped = {k: [f"127.0.0.1:{self.ports[a]}" for a in v] for k, v in cluster.items()}
        return json.dumps(config), json.dumps({**config, "cluster": mapped})

    # ----------------------------------------------------------------- pods
    def _pods(self, job: dict) -> list[dict]:
        uid = job["metadata"]["uid"]
        return [
            p
            for p in self.store.pods.values()
            if p["metadata"]["labels"].get(LABEL + "job-name") == job["metadata"]["name"]
            and any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])
        ]

    def _create_pod(self, job: dict, rtype: str, index: int) -> None:
        meta, rspec = job["metadata"], job["spec"]["tfReplicaSpecs"][rtype]
        rt = rtype.lower()
        specs = job["spec"]["tfReplicaSpecs"]
        has_chief = "Chief" in specs or "Master" in specs
        template = copy.deepcopy(rspec["template"])
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update(
            {
                LABEL + "operator-name": "tfjob-controller",
                LABEL + "job-name": meta["name"],
                LABEL + "replica-type": rt,
                LABEL + "replica-index": str(index),
            }
        )
        if rtype in ("Chief", "Master") or (not has_chief and rtype == "Worker" and index == 0):
            labels[LABEL + "job-role"] = "master"
        spec = template["spec"]
        policy = rspec.get("restartPolicy", "Never")
        spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
        tf_config = self.tf_config(job, rt, index)
        extra_env = {}
        if tf_config:
            container = next(c for c in spec["containers"] if c["name"] == "tensorflow")
            container.setdefault("env", []).append({"name": "TF_CONFIG", "value": tf_config[0]})
            extra_env["TF_CONFIG"] = tf_config[1]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                **(template.get("metadata") or {}),
                "name": f"{meta['name']}-{rt}-{index}",
                "namespace": meta["namespace"],
                "uid": self.store.new_uid(),
                "creationTimestamp": now(),
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": "kubeflow.org/v1",
                        "kind": "TFJob",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        self.store.pods[(meta["namespace"], pod["metadata"]["name"])] = pod
        self.events.append(f"created pod {pod['metadata']['name']}")
        self.kubelet.start(pod, extra_env)

    def _delete_pods(self, pods: list[dict]) -> None:
        for p in pods:
            self.kubelet.delete(p["metadata"]["namespace"], p["metadata"]["name"])

    # ----------------------------------------------------------------- the reconcile pass
    def reconcile(self, job: dict) -> None:
        meta, spec = job["metadata"], job["spec"]
        name = meta["name"]
        status = job.setdefault("status", {})
        if not status.get("conditions"):
            update_condition(status, "Created", "TFJobCreated", f"TFJob {name} is created.")
        specs = spec["tfReplicaSpecs"]
        run_policy = spec.get("runPolicy") or {}
        pods = self._pods(job)
        live = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
        if _true(status, "Succeeded") or _true(status, "Failed"):
            clean = run_policy.get("cleanPodPolicy", "None")
            if clean == "All":
                self._delete_pods(live)
            elif clean == "Running":
                self._delete_pods([p for p in live if p["status"]["phase"] in ("Running", "Pending")])
            return
        status.setdefault("startTime", now())

        backoff = run_policy.get("backoffLimit")
        if backoff is not None:
            restarts = sum(
                cs.get("restartCount", 0)
                for p in live
                if specs.get(self._rtype(p), {}).get("restartPolicy") in ("OnFailure", "Always")
                and p["status"]["phase"] == "Running"
                for cs in p["status"].get("containerStatuses") or []
            )
            if (restarts > 0) if backoff == 0 else (restarts >= backoff):
                self._delete_pods(live)
                status["completionTime"] = now()
                message = f"Job {name} has failed because it has reached the specified backoff limit"
                update_condition(status, "Failed", "TFJobFailed", message)
                self.events.append(f"failed {name}: backoff limit ({restarts} restarts)")
                return

        replica_statuses = status.setdefault("replicaStatuses", {})
        for rtype, rspec in specs.items():
            mine = {
                int(p["metadata"]["labels"][LABEL + "replica-index"]): p
                for p in live
                if self._rtype(p) == rtype
            }
            counts = {"active": 0, "succeeded": 0, "failed": 0}
            for index in range(rspec.get("replicas", 1)):
                pod = mine.get(index)
                if pod is None:
                    if not any(self._rtype(p) == rtype and self._index(p) == index for p in pods):
                        self._create_pod(job, rtype, index)  # not while the old one is terminating
                    continue
                phase = pod["status"]["phase"]
                if phase == "Failed" and rspec.get("restartPolicy") in ("OnFailure", "Always"):
                    self._delete_pods([pod])  # recreated on a later pass
                    update_condition(
                        status,
                        "Restarting",
                        "TFJobRestarting",
                        f"job {name} is restarting because {rtype} replica(s) failed.",
                    )
                    self.events.append(f"restarting {pod['metadata']['name']}")
                    counts["failed"] += 1
                elif phase in ("Running", "Pending"):
                    counts["active"] += 1
                elif phase == "Succeeded":
                    counts["succeeded"] += 1
                elif phase == "Failed":
                    counts["failed"] += 1
            replica_statuses[rtype] = {**counts, "selector": f"{LABEL}job-name={name}"}
        self._update_job_status(job, status, specs, live)

    @staticmethod
    def _rtype(pod: dict) -> str:
        rt = pod["metadata"]["labels"][LABEL + "replica-type"]
        return next(t for t in ORDER if t.lower() == rt)

    @staticmethod
    def _index(pod: dict) -> int:
        return int(pod["metadata"]["labels"][LABEL + "replica-index"])

    def _update_job_status(self, job: dict, status: dict, specs: dict, live: list[dict]) -> None:
        name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
        has_chief = "Chief" in specs or "Master" in specs
        restarting = _true(status, "Restarting")
        worker0_done = any(
            self._rtype(p) == "Worker" and self._index(p) == 0 and p["status"]["phase"] == "Succeeded"
            for p in live
        )
        success_policy = job["spec"].get("successPolicy", "")
        for rtype in ORDER:
            if rtype not in specs:
                continue
            rs = status["replicaStatuses"][rtype]
            expected = specs[rtype].get("replicas", 1) - rs["succeeded"]
            running, failed = rs["active"], rs["failed"]
            succeeded_msg = f"TFJob {ns}/{name} successfully completed."
            running_msg = f"TFJob {ns}/{name} is running."
            if has_chief:
                if rtype in ("Chief", "Master"):
                    if running > 0:
                        update_condition(status, "Running", "TFJobRunning", running_msg)
                    if expected == 0:
                        status.setdefault("completionTime", now())
                        update_condition(status, "Succeeded", "TFJobSucceeded", succeeded_msg)
            elif rtype == "Worker":
                if expected == 0 or (worker0_done and success_policy != "AllWorkers"):
                    status.setdefault("completionTime", now())
                    update_condition(status, "Succeeded", "TFJobSucceeded", succeeded_msg)
                elif running > 0:
                    update_condition(status, "Running", "TFJobRunning", running_msg)
            if failed > 0 and not restarting:
                status.setdefault("completionTime", now())
                message = f"TFJob {ns}/{name} has failed because {failed} {rtype} replica(s) failed."
                update_condition(status, "Failed", "TFJobFailed", message)
