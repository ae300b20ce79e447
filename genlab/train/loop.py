"""The custom training loop: ``strategy.run`` + ``GradientTape`` for every model family.

Keras 3's ``model.fit`` fails under MultiWorkerMirroredStrategy in TF 2.21, and GANs need a
custom loop anyway. One loop serves all families: each model's ``train_step`` runs on a replica,
losses are summed across replicas (each is already a share of the global mean), checkpoints are
written every ``train.checkpoint_every`` steps, and a re-run resumes from the latest one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

from genlab import data, export, io, models
from genlab.errors import TrainingError
from genlab.log import log
from genlab.models.base import StepContext
from genlab.train import precision, summaries
from genlab.train.checkpoints import resume_checkpoint
from genlab.train.fid_curve import FidCurve
from genlab.train.progress import Progress
from genlab.train.strategy import make_strategy, role_from_env

MODEL_MARKER = "model.json"  # written last by the chief: the model is complete


@dataclass(frozen=True)
class TrainResult:
    steps: int
    resumed_from: int  # 0 when training started fresh
    final_losses: dict
    examples_per_sec: float  # median over logged intervals, global examples
    seconds: float
    workers: int
    weights_sha256: str  # fingerprint of every network's weights: equal on all workers when in sync
    precision: str = "float32"  # what train.mixed_precision resolved to: float32 or bfloat16


def total_steps(exp, train_count: int) -> int:
    if exp.train.steps:
        return exp.train.steps
    return max(1, math.ceil(exp.train.epochs * train_count / exp.train.batch_size))


def train(exp, data_uri: str, model_uri: str) -> TrainResult:
    """Train ``exp`` on the prepared dataset at ``data_uri``; the chief writes to ``model_uri``."""
    previous = keras.mixed_precision.global_policy()
    try:
        return _train(exp, data_uri, model_uri)
    finally:  # a process that goes on (evaluate, load_model, the next run) is not left in bfloat16
        keras.mixed_precision.set_global_policy(previous)


def _train(exp, data_uri: str, model_uri: str) -> TrainResult:
    t_start = time.time()
    role = role_from_env()
    # Resolved here, in every worker, on its own hardware (auto). bfloat16 needs no loss scaling;
    # the policy is set either way so one process can train both kinds of run.
    bf16 = precision.resolve(exp)
    policy = "mixed_bfloat16" if bf16 else "float32"
    keras.mixed_precision.set_global_policy(policy)
    strategy = make_strategy(role)
    manifest = data.load_manifest(data_uri)
    spec = data.data_spec(manifest, exp)
    keras.utils.set_random_seed(exp.train.seed)  # same initial weights on every worker

    with strategy.scope():
        model = models.build(exp, spec)
        model.build_optimizers()
        step = tf.Variable(0, dtype=tf.int64, name="step", trainable=False)
    checkpoint = tf.train.Checkpoint(
        step=step,
        **{f"net_{k}": v for k, v in model.networks.items()},
        **{f"opt_{k}": v for k, v in model.optimizers.items()},
        **{f"state_{k}": v for k, v in model.state().items()},
    )

    chief_dir = io.join(model_uri, "checkpoints")
    own_dir = chief_dir if role.is_chief else tempfile.mkdtemp(prefix=f"genlab-ckpt-w{role.index}-")
    # Every worker resumes from the chief's newest intact checkpoint; the chief sets unreadable
    # ones aside before its CheckpointManager reads the state file (it would list them again).
    latest = resume_checkpoint(chief_dir, is_chief=role.is_chief, log=log)
    manager = tf.train.CheckpointManager(checkpoint, own_dir, max_to_keep=3)
    if latest:
        checkpoint.restore(latest).expect_partial()
        log(f"resumed from {latest} at step {int(step.numpy())}")  # every worker: they must agree
    resumed_from = int(step.numpy())
    curve = None
    if exp.train.fid_samples and model.fid_curve:
        if role.is_chief:  # the pinned extractor may train here, once per dataset (evaluate reuses it)
            curve = FidCurve(exp, data_uri, manifest, model_uri, resumed_from, log)
            keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(exp.train.seed)  # every worker: the same state after the chief's detour

    steps = total_steps(exp, manifest.count("train"))
    global_batch = exp.train.batch_size

    def input_fn(ctx):
        return data.train_input(
            data_uri,
            manifest,
            global_batch=global_batch,
            seed=exp.train.seed,
            input_context=ctx,
            skip_batches=resumed_from,
        )

    iterator = iter(strategy.distribute_datasets_from_function(input_fn))

    @tf.function(jit_compile=exp.train.xla or None)
    def replica_step(batch):
        ctx = StepContext(global_batch, step, exp.train.seed)
        return model.train_step(batch, ctx)

    def one_step(it):
        per_replica = strategy.run(replica_step, args=(next(it),))
        step.assign_add(1)
        return {k: strategy.reduce("SUM", v, axis=None) for k, v in per_replica.items()}

    @tf.function
    def distributed_steps(it, n):
        """``n`` steps in one call: the last step's losses, and the first step (0: none) whose
        losses were not all finite, with those losses."""
        losses = one_step(it)
        bad_step, bad_losses = _first_nonfinite(tf.constant(0, tf.int64), losses, step, losses)
        for _ in tf.range(n - 1):  # a loop (not n copies) in the graph: the collectives stay in order
            losses = one_step(it)
            bad_step, bad_losses = _first_nonfinite(bad_step, bad_losses, step, losses)
        return losses, bad_step, bad_losses

    writer = tf.summary.create_file_writer(io.join(model_uri, "tensorboard")) if role.is_chief else None
    if writer:
        summaries.write_hparams(writer, exp, policy_precision(policy))
    history = _load_history(model_uri) if role.is_chief and resumed_from else []
    history = [h for h in history if h["step"] <= resumed_from]
    rates: list[float] = []
    last_good = resumed_from
    progress = Progress(steps, global_batch, resumed_from)
    s_log = resumed_from
    if role.is_chief:  # the other workers would print the same lines
        log(
            f"training {exp.model.family} for {steps} steps (global batch {global_batch}, "
            f"{role.num_workers} worker{'s' if role.num_workers > 1 else ''}, strategy {type(strategy).__name__}, "
            f"precision {precision.describe(exp, bf16)})"
        )

    losses = {}
    if curve:
        curve.start()  # fid_curve.json's train_s: the loop's time, not the set-up's
    s = resumed_from
    while s < steps:
        # never past the next log or checkpoint step: those see exactly the state of a 1-step call
        n = min(
            exp.train.steps_per_call,
            steps - s,
            exp.train.log_every - s % exp.train.log_every,
            exp.train.checkpoint_every - s % exp.train.checkpoint_every,
        )
        out, bad_step, bad_losses = distributed_steps(iterator, tf.constant(n, tf.int64))
        losses = {k: float(v) for k, v in out.items()}  # one host read per call
        s += n
        if int(bad_step):
            bad_losses = {k: float(v) for k, v in bad_losses.items()}
            bad = [k for k, v in bad_losses.items() if not math.isfinite(v)]
            raise TrainingError(
                f"step {int(bad_step)}: loss {bad[0]} is {bad_losses[bad[0]]}; training stopped. "
                f"{_kept(last_good, chief_dir)}; lower train.learning_rate and re-run"
            )
        if s % exp.train.log_every == 0 or s == steps:
            line, rate = progress.line(s, losses)
            if s - s_log == exp.train.log_every and s_log != resumed_from:
                rates.append(rate)  # skip the interval that holds tracing/warm-up
            s_log = s
            if role.is_chief:
                log(line)
            history.append({"step": s, **losses, "examples_per_sec": rate})
            if writer:
                with writer.as_default(step=s):
                    for k, v in losses.items():
                        tf.summary.scalar(k, v)
                    tf.summary.scalar("examples_per_sec", rate)
        if s % exp.train.checkpoint_every == 0 or s == steps:
            broken = _nonfinite_weight(model)  # a finite loss can hide an overflowed update: never save it
            if broken:
                raise TrainingError(
                    f"step {s}: weight {broken} is NaN or Inf; training stopped before "
                    f"checkpointing it. {_kept(last_good, chief_dir)}; lower "
                    f"train.learning_rate and re-run"
                )
            manager.save(checkpoint_number=s)  # every worker saves (collective); only the chief's is kept
            last_good = s
            if role.is_chief:
                io.write_json(io.join(model_uri, "history.json"), history)
                summaries.write_samples(writer, model, exp.generate.seed, s)
                if curve:
                    value = curve.at(model, s)
                    log(f"fid at step {s}: {value:.4g} ({curve.n} samples, pinned feature space)")
                    with writer.as_default(step=s):
                        tf.summary.scalar("fid_curve", value)

    if role.is_chief:
        model.after_training(data_uri, manifest)  # outside strategy.scope: no collectives, chief only
        _save_model(
            model,
            exp,
            manifest,
            model_uri,
            int(step.numpy()),
            history,
            time.time() - t_start,
            policy_precision(policy),
        )
    else:
        shutil.rmtree(own_dir, ignore_errors=True)
    if writer:
        writer.close()
    result = TrainResult(
        steps=int(step.numpy()),
        resumed_from=resumed_from,
        final_losses=losses,
        examples_per_sec=float(np.median(rates)) if rates else 0.0,
        seconds=time.time() - t_start,
        workers=role.num_workers,
        weights_sha256=weights_fingerprint(model),
        precision=policy_precision(policy),
    )
    log(f"done: {json.dumps(asdict(result))}")
    return result


def _first_nonfinite(bad_step, bad_losses, step, losses):
    """(bad_step, bad_losses) updated with this step's: kept if already set, else set when a loss is NaN/Inf."""
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in losses.values()])
    new = tf.logical_and(tf.equal(bad_step, 0), tf.logical_not(finite))
    return (
        tf.where(new, tf.cast(step, tf.int64), bad_step),
        {k: tf.where(new, losses[k], bad_losses[k]) for k in losses},
    )


def policy_precision(policy: str) -> str:
    """The compute precision a Keras policy name stands for: float32 or bfloat16."""
    return "bfloat16" if policy == "mixed_bfloat16" else "float32"


def weights_fingerprint(model) -> str:
    h = hashlib.sha256()
    for name in sorted(model.networks):
        for w in model.networks[name].weights:
            h.update(np.asarray(w.numpy()).tobytes())
    return h.hexdigest()


def _nonfinite_weight(model) -> str | None:
    """The first network weight holding a NaN or Inf, as ``network/weight``; None when all are finite."""
    for name in sorted(model.networks):
        for w in model.networks[name].weights:
            value = tf.convert_to_tensor(w)
            if value.dtype.is_floating and not bool(tf.reduce_all(tf.math.is_finite(value))):
                return f"{name}/{w.path}"
    return None


def _kept(last_good: int, chief_dir: str) -> str:
    if last_good:
        return f"The last good checkpoint (step {last_good}) is kept in {chief_dir}"
    return "No checkpoint had been written yet"


def _load_history(model_uri: str) -> list:
    path = io.join(model_uri, "history.json")
    return io.read_json(path) if io.exists(path) else []


def _save_model(
    model,
    exp,
    manifest,
    model_uri: str,
    steps: int,
    history: list,
    seconds: float = 0.0,
    compute: str = "float32",
) -> None:
    """Weights, history, then the marker: a model folder without model.json is incomplete."""
    marker = io.join(model_uri, MODEL_MARKER)
    if io.exists(marker):  # an earlier model is being replaced: it stops looking complete first
        tf.io.gfile.remove(marker)
    staging = tempfile.mkdtemp(prefix="genlab-model-")
    try:
        model.save(staging)
        files = sorted(f for f in os.listdir(staging) if os.path.isfile(os.path.join(staging, f)))
        # .keras files and the SavedModel (genlab.load, serving), in float32 whatever the training precision
        export.save_portable(_float32_twin(model, exp), staging)
        if io.exists(io.join(model_uri, export.SERVING_DIR)):  # no files of an earlier export linger
            tf.io.gfile.rmtree(io.join(model_uri, export.SERVING_DIR))
        export.copy_tree(staging, model_uri)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    io.write_json(io.join(model_uri, "history.json"), history)
    io.write_json(
        marker,
        {
            "family": exp.model.family,
            "experiment": exp.to_dict(),
            "steps": steps,
            "dataset_checksum": manifest.checksum,
            "networks": sorted(model.networks),
            "files": files,  # what model.save wrote: load_model hands them all back to model.load
            "spec": export.spec_to_json(model.spec),  # rebuilds the networks without the dataset
            "train_seconds": round(seconds, 1),  # wall time of the (last) training process, export included
            # what train.mixed_precision resolved to in the (last) training process; weights are float32 either way
            "precision": compute,
        },
    )


def _float32_twin(model, exp):
    """``model`` itself under the float32 policy; else the same networks and weights rebuilt in float32,
    so an export computes as ``load_model`` does and serves on hardware without bfloat16."""
    policy = keras.mixed_precision.global_policy()
    if policy.name == "float32":
        return model
    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = models.build(exp, model.spec)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    for name, net in model.networks.items():  # variables are float32 under mixed_bfloat16 too
        twin.networks[name].set_weights(net.get_weights())
    return twin


def load_model(model_uri: str, data_uri: str | None = None):
    """Rebuild a trained model from its folder: (experiment, GenerativeModel)."""
    from genlab import config
    from genlab.errors import DataError

    marker = io.join(model_uri, MODEL_MARKER)
    if not io.exists(marker):
        raise DataError(f"{model_uri}: not a trained model ({MODEL_MARKER} missing; did training finish?)")
    meta = io.read_json(marker)
    exp = config.experiment_from_dict(meta["experiment"], marker)
    if "spec" in meta:  # what the networks were built from (genlab.export)
        spec = export.spec_from_json(meta["spec"])
    elif data_uri:  # a model saved before model.json held the spec
        spec = data.data_spec(data.load_manifest(data_uri), exp)
    else:
        raise DataError(f"{model_uri}: a prepared dataset is needed to rebuild the model's input shape")
    model = models.build(exp, spec)
    local = tempfile.mkdtemp(prefix="genlab-load-")
    try:
        # Models saved before model.json listed their files had weights files only.
        for name in meta.get("files") or [f"{n}.weights.h5" for n in meta["networks"]]:
            tf.io.gfile.copy(io.join(model_uri, name), io.join(local, name))
        model.load(local)
    finally:
        shutil.rmtree(local, ignore_errors=True)
    return exp, model
