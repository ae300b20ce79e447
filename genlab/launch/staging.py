"""Data staging for a TFJob: what the pods cannot see is copied onto the shared PVC.

Pods read ``gs://`` URIs directly. A local path of the calling container (KFP's ``/minio/...``
or ``/gcs/...`` artifact paths) is invisible to them, so the data is copied to
``<mount path>/<job name>/data`` on the shared PVC (the train step mounts the same PVC), the
pods write the model to ``<mount path>/<job name>/model``, and ``Staging.finish`` copies it back
to the caller's ``model_uri`` when the job succeeds. The mount path comes from
``genlab.launch.paths.mount_path()`` unless the launcher is given one.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

from genlab.errors import LaunchError
from genlab.io import is_remote
from genlab.launch.base import TrainJob


def _under(path: str, root: str) -> bool:
    p, r = os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(root))
    return p == r or p.startswith(r + os.sep)


def needs_staging(uri: str, mount_path: str) -> bool:
    """A local path the pods cannot see: not a URL and not on the shared PVC."""
    return not is_remote(uri) and not _under(uri, mount_path)


def _copy(src: str, dst: str) -> None:
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        shutil.copy2(src, dst)


@dataclasses.dataclass
class Staging:
    """Where the pods read and write, and what to copy back afterwards."""

    job: TrainJob  # the job as the pods see it
    model_back: tuple[str, str] | None = None  # (PVC model dir, caller's model_uri)
    workdir: str | None = None

    def finish(self) -> None:
        if self.model_back:
            src, dst = self.model_back
            if not os.path.exists(src):
                raise LaunchError(f"TFJob {self.job.name} succeeded but wrote no model at {src} on the PVC")
            _copy(src, dst)


def stage(job: TrainJob, mount_path: str, job_dir: str) -> Staging:
    """Copy local inputs to ``<mount_path>/<job_dir>`` and point the model there when the pods can't see them."""
    stage_data = needs_staging(job.data_uri, mount_path)
    stage_model = needs_staging(job.model_uri, mount_path)
    if not (stage_data or stage_model):
        return Staging(job)
    if not os.path.isdir(mount_path):
        which = job.data_uri if stage_data else job.model_uri
        raise LaunchError(
            f"TFJob {job.name}: {which!r} is a local path the TFJob pods cannot read, and the shared "
            f"volume is not mounted at {mount_path} here; use gs:// URIs, or run the step with the "
            f"genlab-data PVC mounted at {mount_path} (pipelines.cluster.configure_step does this)"
        )
    workdir = os.path.join(mount_path, job_dir)
    data_uri, model_uri, model_back = job.data_uri, job.model_uri, None
    if stage_data:
        if not os.path.exists(job.data_uri):
            raise LaunchError(f"TFJob {job.name}: data {job.data_uri!r} does not exist")
        data_uri = os.path.join(workdir, "data")
        _copy(job.data_uri, data_uri)
    if stage_model:
        model_uri = os.path.join(workdir, "model")
        os.makedirs(model_uri, exist_ok=True)
        if os.path.isdir(job.model_uri) and os.listdir(job.model_uri):
            _copy(job.model_uri, model_uri)  # resume from what the caller already has
        model_back = (model_uri, job.model_uri)
    return Staging(dataclasses.replace(job, data_uri=data_uri, model_uri=model_uri), model_back, workdir)
