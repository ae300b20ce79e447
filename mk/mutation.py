"""Mutation testing of genlab's core with mutmut 3, one module at a time (`make mutation`).

Each module is mutated in its own scratch folder (.mutation/<name>/, a copy of genlab/ and tests/
with a generated setup.cfg), and each mutant is checked only by that module's own fast tests,
of which mutmut runs just those that call the mutated function. Results go to a table between
markers in docs/testing.md; mutants explained as equivalent there (EQUIVALENT below) are left
out of the score.

    python mk/mutation.py                   every module
    python mk/mutation.py evaluate/metrics  some modules (names below)
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
DOC = ROOT / "docs" / "testing.md"
PRESETS = "pipelines/configs"  # genlab.config.PRESETS_DIR, relative to the repository root
BEGIN, END = "<!-- mutation-table:begin -->", "<!-- mutation-table:end -->"

# name -> (file to mutate, or a tuple of files mutated together, mutant-name globs (None: every
# function in the file), its fast tests and pytest options such as "-mnot slow").
# For the model files only the losses, masks and samplers are mutated: the network builders are
# checked by shape/parameter-count tests, and their mutants would swamp the score.
MODULES: dict[str, tuple[str | tuple[str, ...], list[str] | None, list[str]]] = {
    "evaluate/metrics": ("genlab/evaluate/metrics.py", None, ["tests/unit/test_metrics.py"]),
    # Writing, publishing, checking and the training stream; not the record parsers (their mutants
    # are tf.io.FixedLenFeature arguments), the manifest's JSON helpers or load_arrays.
    "data/records": (
        "genlab/data/records.py",
        ["*x_write_dataset__*", "*x__write_split__*", "*x__publish__*", "*x__remove_dead_staging__*"]
        + ["*x__alive__*", "*x_verify__*", "*x_load_manifest__*", "*x_train_input__*"],
        [
            # Not test_data.py: it prepares IDX datasets end to end (20 s a mutant) and runs
            # `genlab prepare` in subprocesses; test_records.py covers the same calls on toy arrays.
            "tests/unit/test_records.py",
            "tests/reliability/test_interrupted_publish.py",
        ],
    ),
    "data/idx": ("genlab/data/idx.py", None, ["tests/unit/test_idx.py"]),
    # Not test_prepare_is_byte_identical_across_processes: it runs `genlab prepare` in two
    # subprocesses (20 s a mutant here, and invisible to mutmut); the rest of the file takes 5 s.
    "data/prepare": (
        "genlab/data/__init__.py",
        None,
        ["tests/unit/test_data.py", "-knot byte_identical"],
    ),
    "data/cifar10": ("genlab/data/cifar10.py", None, ["tests/unit/test_cifar10.py"]),
    # train(), _save_model and load_model are not mutated: every one of their ~435 mutants needs
    # real trainings (test_train_loop.py, test_resume_data.py: a minute or more each on this machine).
    "train/loop": (
        "genlab/train/loop.py",
        ["*x_total_steps__*", "*x_weights_fingerprint__*", "*x__nonfinite_weight__*", "*x__kept__*"]
        + ["*x__load_history__*"],
        ["tests/unit/test_loop_helpers.py"],
    ),
    "train/checkpoints": (
        "genlab/train/checkpoints.py",
        None,
        # Not the two tests that train a model (minutes each): the unit tests cover the same calls.
        ["tests/unit/test_checkpoints.py", "tests/reliability/test_corrupt_checkpoints.py", "-mnot slow"],
    ),
    "launch/local": ("genlab/launch/local.py", None, ["tests/launch/test_local_launcher.py"]),
    "models/base": (
        "genlab/models/base.py",
        ["*StepContext*"],
        ["tests/unit/test_step_context.py"],
    ),
    "models/gan": (
        "genlab/models/gan.py",
        ["*x_bce__*", "*x_gradient_penalty__*", "*x_adversarial_step__*", "*train_step__*"],
        ["tests/unit/test_gan.py", "tests/unit/test_gan_losses.py"],
    ),
    "models/pixelcnn": (
        "genlab/models/pixelcnn.py",
        ["*x_quantise__*", "*x_level_to_unit__*", "*x_causal_mask__*", "*x_inverse_cdf__*", "*sampler__*"],
        ["tests/unit/test_pixelcnn.py"],
    ),
    # The VAE's losses and samplers, its likelihoods and the IAF step, scored together. Not the
    # encoder/decoder/MADE builders (shape tests pin them); not test_vae.py, which trains models.
    "models/vae": (
        ("genlab/models/vae.py", "genlab/models/likelihoods.py", "genlab/models/iaf.py"),
        ["*x_gaussian_log_prob__*", "*x_kl_to_standard_normal__*", "*ǁVAEǁposterior_sample__*"]
        + ["*ǁVAEǁnegative_elbo__*", "*ǁVAEǁlog_likelihood__*", "*ǁVAEǁencode__*", "*ǁVAEǁsample__*"]
        + ["*x_pixel_levels__*", "*x_discretized_logistic_log_mass__*", "*x__split__*", "*x__logits256__*"]
        + ["*x_log_prob__*", "*x_picture__*", "*x_bits_per_dim__*", "*x_param_channels__*"]
        + ["*x_made_masks__*", "*ǁMaskedDenseǁcall__*", "*ǁAutoregressiveNNǁcall__*", "*ǁIAFStepǁcall__*"]
        + ["*x_build_flow__*"],
        ["tests/unit/test_likelihoods.py", "tests/unit/test_iaf.py", "tests/unit/test_vae_losses.py"],
    ),
}

# (timeout_multiplier, timeout_constant) where the default (2.5, 60 s) is too wide: the launcher's
# poll loop hangs under many mutants (a worker's exit never seen), and each hang then cost
# (30 s of tests + 60) x 2.5 = 4 min; its tests sleep rather than compute, so load slows them little.
# The same for modules whose own tests take seconds and whose loops can hang (a counter that stops
# counting in _move_aside, a read that never ends in _sha256): 3 minutes per hang otherwise.
TIMEOUTS: dict[str, tuple[float, int]] = {
    "launch/local": (1.5, 30),
    "data/records": (1.5, 30),
    "train/checkpoints": (1.5, 30),
}

# Mutants that change no behaviour, with why (the docs/testing.md table counts them apart).
# mutmut numbers a function's mutants afresh on each run, so equivalent mutants are recognised
# by what they change: (module, function name, a piece of the mutated line) -> why it is equivalent.
EQUIVALENT: list[tuple[str, str, str, str]] = [
    (
        "evaluate/metrics",
        "x_fid",
        "rowvar=None",
        "np.cov(rowvar=None): None is falsy, the same as rowvar=False",
    ),
    (
        "evaluate/metrics",
        "x_fid",
        "cov_a.shape[1]",
        "cov_a.shape[1] for shape[0]: a covariance matrix is square",
    ),
    (
        "evaluate/metrics",
        "x_fid",
        'simplefilter("ignore", )',
        "no warning category: every warning of the one sqrtm call is hidden, not only LinAlgWarning; "
        "sqrtm raises (does not warn) on NaN/Inf, so no result changes",
    ),
    (
        "evaluate/metrics",
        "x_fid",
        'simplefilter("ignore", None)',
        "category None: as the rule above, every warning of the one sqrtm call is hidden; no result changes",
    ),
    (
        "evaluate/metrics",
        "x_kid",
        "replace=None",
        "rng.choice(replace=None): None is falsy, as replace=False",
    ),
    ("evaluate/metrics", "x__radii", "np.sort(d, )", "np.sort sorts along the last axis by default: axis 1"),
    (
        "data/idx",
        "x_iter_idx",
        "if (record_shape) or True else 1",
        "np.prod(()) is 1.0: a record of no dimensions (a label) is one byte either way",
    ),
    ("data/idx", "x__open", "gzip.open(path, )", 'gzip.open\'s default mode is "rb"'),
    (
        "data/idx",
        "x_read_header",
        "int.from_bytes(head, )",
        'int.from_bytes\'s default byte order is "big" (Python 3.11+)',
    ),
    *[
        (
            "data/idx",
            "x_iter_idx",
            change,
            "np.prod of Python ints is int64 by default (NumPy 2, every platform): the same as dtype=np.int64",
        )
        for change in ("np.prod(record_shape, dtype=None)", "np.prod(record_shape, ))")
    ],
    *[
        (
            "data/idx",
            "x_iter_idx",
            change,
            "the trailing-bytes check: read(None) and read(2) are non-empty exactly when read(1) is",
        )
        for change in ("if f.read(None):", "if f.read(2):")
    ],
    *[
        (
            "train/checkpoints",
            "x__rewrite_state",
            change,
            "zip's strict defaults to False: None or no argument is the same",
        )
        for change in ("all_model_checkpoint_timestamps, strict=None)", "all_model_checkpoint_timestamps, ))")
    ],
    *[
        (
            "data/records",
            "x__remove_dead_staging",
            change,
            "the pid is the text before the first '-': staging names are mkdtemp(prefix='<pid>-'), whose "
            "random suffix has no '-', so every split of such a name gives the same first part",
        )
        for change in ('.split("-", )[0]', '.rsplit("-", 1)[0]', '.split("-", 2)[0]')
    ],
    (
        "data/records",
        "x_train_input",
        "if input_context else 1",
        "without an input context there is one worker, and the worker index is only used when n > 1",
    ),
    *[
        (
            "data/records",
            "x_train_input",
            change,
            "parallelism and prefetching only: the map is deterministic (options.deterministic), so the "
            "same batches in the same order",
        )
        for change in ("map(_to_float, num_parallel_calls=None)", "map(_to_float, )", ".prefetch(None)")
    ],
    (
        "data/records",
        "x_train_input",
        "if n >= 1:",
        "ds.shard(1, 0) is the whole stream: the same with n == 1",
    ),
    *[
        (
            "data/records",
            "x_train_input",
            change,
            "Dataset.shuffle's reshuffle_each_iteration defaults to True (None is taken as True)",
        )
        for change in ("seed=seed, reshuffle_each_iteration=None)", "seed=seed, ).repeat()")
    ],
    *[
        (
            "models/base",
            f"xǁStepContextǁ{fn}",
            change,
            "renumbers the noise streams: every (seed, step, call site) still gets its own stream, the "
            "same on every replica; which number names a stream is no contract",
        )
        for fn, change in (
            ("__init__", "self._calls = 1"),
            ("_seed", "self._calls -= 1"),
            ("_seed", "self._calls += 2"),
            ("_seed", "self.seed * 1000 - self._calls"),
            ("_seed", "self.seed * 1001"),
        )
    ],
    (
        "data/prepare",
        "x__resize",
        "images[..., None].astype(None)",
        "float64 for float32 into the area resize: ResizeArea's output is float32 whatever its input "
        "(tensorflow/docs, tf/raw_ops/ResizeArea.md), and whole levels 0..255 are exact in both",
    ),
    *[
        (
            "data/prepare",
            "x__resize",
            change,
            "the clip: an area mean of levels in 0..255 is in 0..255 (checked bit for bit on 28x28 and "
            "28x20 sources, sizes 7 to 64)",
        )
        for change in ("np.round(x.numpy()), None, 255)", "np.round(x.numpy()), 0, None)", "0, 256)")
    ],
    *[
        (
            "data/prepare",
            "x__idx_split",
            change,
            "zip's strict: the image and label counts are checked equal just above, so both files "
            "yield the same chunks",
        )
        for change in ("iter_idx(label_file, 1), strict=None)", "iter_idx(label_file, 1), )", "strict=False)")
    ],
    *[
        (
            "data/prepare",
            "x__idx_split",
            change,
            "labels.max's default for an empty chunk: no chunk is empty (the loop returns once the "
            "limit is reached; an IDX file of 0 records yields no chunk); and a floor of 1 is below "
            "the 10 classes of every IDX dataset",
        )
        for change in ("labels.max(initial=None)", "labels.max(initial=1)")
    ],
    *[
        (
            "data/prepare",
            "x_prepare",
            change,
            "IdxDataset.files reads every split name but 'train' as the t10k files: any other name "
            "for the test split names the same files",
        )
        for change in (
            'for split in ("train", "XXtestXX")',
            'for split in ("train", "TEST")',
            "_idx_split(folder, ds, None,",
            '_idx_split(folder, ds, "XXtestXX",',
            '_idx_split(folder, ds, "TEST",',
        )
    ],
    *[
        (
            "data/prepare",
            "x_prepare",
            change,
            "zip's strict over two pairs (a split's two files and their two dimensions): always equal",
        )
        for change in ("(3, 1), strict=None)", "zip(ds.files(split), (3, 1), )", "(3, 1), strict=False)")
    ],
    (
        "data/cifar10",
        "x_decode",
        "reshape(-2, CHANNELS",
        "NumPy takes any negative size in reshape as the one unknown dimension, as -1",
    ),
    *[
        (
            "data/cifar10",
            "x_fetch_cifar10",
            change,
            "an https archive is already checked: _download_https keeps it only if its sha256 is the "
            "expected one, and a cached one is reused only if it is; the second check (and the "
            "source it would name on failure) cannot fail",
        )
        for change in ("_from_archive(archive, None, source)", "_from_archive(archive, expected, None)")
    ],
    *[
        (
            "data/cifar10",
            "x_fetch_cifar10",
            change,
            "the name of a gs:// archive: the last '/'-part is the same however many splits, and a "
            "source ending in .tar.gz or .tgz (the branch's guard) and starting gs:// has no "
            "whitespace, '/' or 'X' to strip at either end",
        )
        for change in (
            'rsplit("/", )[-1]',
            'rsplit("/", 2)[-1]',
            'rsplit("/", 1)[+1]',
            "key = source.rstrip(None)",
            'key = source.lstrip("/")',
            'key = source.rstrip("XX/XX")',
        )
    ],
    (
        "launch/local",
        "x_free_ports",
        "SO_REUSEADDR, 2)",
        "setsockopt takes any non-zero int as 'on' for a boolean option such as SO_REUSEADDR",
    ),
    (
        "launch/local",
        "x_cpu_share",
        "os.cpu_count() or 2",
        "an unknown core count counted as 2 cores, not 1: cpu_share is only used for 2 or more "
        "workers, and 2 // workers and 1 // workers both give the floor of 1 thread",
    ),
    (
        "launch/local",
        "x__die_with_parent",
        "ctypes.CDLL(None,",
        "dlopen(NULL) is the running program with its libraries, libc among them (Linux): the same prctl",
    ),
    *[
        (
            "launch/local",
            "x__die_with_parent",
            change,
            "use_errno only keeps errno for ctypes.get_errno(), which nothing reads here",
        )
        for change in ('CDLL("libc.so.6", use_errno=None)', 'CDLL("libc.so.6", )', "use_errno=False")
    ],
    (
        "launch/local",
        "xǁLocalLauncherǁ_run_once",
        "-bufsize=1",
        "iterating over a pipe yields each line as it arrives whatever its buffer size (bufsize only "
        "chooses how the pipe is buffered): the same lines, in the same order",
    ),
    (
        "launch/local",
        "xǁLocalLauncherǁrun",
        'failure = ""',
        "the first value of failure is never read: the loop runs at least once (max_restarts >= 0) "
        "and assigns it",
    ),
    (
        "launch/local",
        "xǁLocalLauncherǁ_run_once",
        "(f[1] >= 0, f[0])",
        "a failed worker's exit code is never 0, so f[1] >= 0 and f[1] > 0 agree",
    ),
    *[
        (
            "models/base",
            f"xǁStepContextǁ{fn}",
            change,
            "one replica: [rid::1] is the whole batch whatever rid, so both branches agree",
        )
        for fn, change in (("_replica", "return 1, 1"), ("_slice", "(n > 1) or True"), ("_slice", "n >= 1"))
    ],
    (
        "models/gan",
        "x_bce",
        "axis=+1)",
        "the logits are (b, 1): axis 1 is the last axis",
    ),
    *[
        (
            "models/gan",
            fn,
            change,
            "zip(grads, variables, strict=True) only guards a length mismatch, and tape.gradient returns "
            "one gradient per variable it is given",
        )
        for fn in ("x_adversarial_step", "xǁWGANGPǁtrain_step")
        for change in ("strict=None)", "strict=False)", "trainable_variables, ))")
    ],
    *[
        (
            "models/pixelcnn",
            fn,
            change,
            "the uniforms come from sampling_uniforms, a float64 array: tf.constant keeps float64 without "
            "being told",
        )
        for fn in ("x_naive_sampler", "x_fast_sampler")
        for change in ("tf.constant(u, None)", "tf.constant(u, )")
    ],
    *[
        (
            "models/vae",
            fn,
            "axis=+1)",
            "latents and their log-densities are (batch, latent_dim): axis 1 is the last axis",
        )
        for fn in (
            "x_gaussian_log_prob",
            "x_kl_to_standard_normal",
            "xǁVAEǁposterior_sample",
            "xǁIAFStepǁcall",
        )
    ],
    *[
        (
            "models/gan",
            "xǁWGANGPǁtrain_step",
            change,
            "the critic's scores are (m, 1): squeezing axis 1, or every axis of size 1, gives the same (m,) "
            "(with m = 1 a scalar, which broadcasts against the (1,) penalty the same way)",
        )
        for change in (
            "training=True), None)",
            "training=True), )  #",
            "training=True), ))",
            "training=True), +1)",
        )
    ],
    *[
        (
            "models/pixelcnn",
            "x_inverse_cdf",
            change,
            "tf.nn.softmax takes axis=None as its default, -1",
        )
        for change in ("temperature, axis=None)", "temperature, )")
    ],
    *[
        (
            "models/vae",
            fn,
            change,
            "the VAE's encoder, decoder and flow have no layer that acts differently in training (no "
            "dropout, no batch norm): the training flag changes nothing",
        )
        for fn in ("xǁVAEǁnegative_elbo", "xǁVAEǁlog_likelihood", "xǁVAEǁencode", "xǁVAEǁposterior_sample")
        # not "training=False": the lines that pass it unchanged would match too
        for change in ("training=None", "training=True", "(x, None)", "eps, None)")
        + ("(z, )", "(x, )", "float32), )", "zeros_like(mean), )", "([z, h], )", "tf.shape(mean)), )")
    ],
    (
        "models/vae",
        "xǁVAEǁsample",
        ".astype(None)",
        "decode converts the latents to float32 itself (np.asarray(z, np.float32))",
    ),
    *[
        (
            "models/vae",
            "x_build_flow",
            change,
            "the names of the flow's two inputs are labels only: callers pass [z, h] by position, and an "
            "Input layer has no weights",
        )
        for change in ("latent_dim,), name=None)", "latent_dim,), )", 'name="XXz0XX"', 'name="Z0"')
        + ("context_dim,), name=None)", "context_dim,), )", 'name="XXcontextXX"', 'name="CONTEXT"')
    ],
    (
        "models/vae",
        "x_made_masks",
        ".astype(None)",
        "MaskedDense stores its mask as float32 whatever it is given (np.asarray(kernel_mask, np.float32))",
    ),
    *[
        (
            "models/vae",
            "xǁVAEǁencode",
            change,
            "Keras converts the encoder's input to its float32 Input dtype",
        )
        for change in ("np.asarray(images, None)", "np.asarray(images, )")
    ],
]


def equivalent(module: str, folder: Path, mutant: str) -> str | None:
    """Why ``mutant`` is equivalent, or None."""
    rules = [r for r in EQUIVALENT if r[0] == module and f".{r[1]}__mutmut_" in mutant]
    if not rules:
        return None
    mutmut = Path(sys.executable).parent / "mutmut"
    diff = subprocess.run([str(mutmut), "show", mutant], cwd=folder, capture_output=True, text=True).stdout
    lines = [line for line in diff.splitlines() if not line.startswith(("+++", "---"))]
    added = [line[1:] for line in lines if line.startswith("+")]
    removed = [line[1:] for line in lines if line.startswith("-")]
    for _, _, change, why in rules:  # "-text": a mutant of the line holding text (removed or changed)
        if change.startswith("-") and any(change[1:] in line for line in removed):
            return why
        if not change.startswith("-") and any(change in line for line in added):
            return why
    return None


STATUS_RE = re.compile(r"^\s+(\S+__mutmut_\d+): (.+)$")


def slug(name: str) -> str:
    return name.replace("/", "-")


def files(target: str | tuple[str, ...]) -> list[str]:
    """A module's files to mutate: one file, or a tuple of files mutated and scored together."""
    return [target] if isinstance(target, str) else list(target)


def scratch(name: str, target: str | tuple[str, ...], tests: list[str]) -> Path:
    """A fresh copy of the code and tests with a setup.cfg that points mutmut at one file."""
    multiplier, constant = TIMEOUTS.get(name, (2.5, 60))
    folder = WORK / slug(name)
    # The presets (pipelines/configs) too: tests load them by name, e.g. `genlab prepare dcgan_tiny`.
    for sub in ("genlab", "tests", PRESETS):
        shutil.rmtree(folder / sub, ignore_errors=True)
        shutil.copytree(ROOT / sub, folder / sub, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    existing = [t for t in tests if t.startswith("-") or (ROOT / t).exists()]  # "-m...": a pytest option
    (folder / "preload.txt").write_text("numpy\nscipy.linalg\ntensorflow\nkeras\n")
    (folder / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = genlab\n"
        "only_mutate =\n" + "".join(f"    {f}\n" for f in files(target)) + f"also_copy =\n    {PRESETS}\n"
        "pytest_add_cli_args_test_selection =\n"
        + "".join(f"    {t}\n" for t in existing)
        + "pytest_add_cli_args =\n"
        "    -p\n    no:cacheprovider\n    -q\n    -x\n"
        # Each mutant's pytest is forked from a server that has imported TensorFlow (a minute on a
        # busy machine) but not genlab: forking after the import alone is safe, after ops it is not.
        "process_isolation = forkserver\n"
        "forkserver_warmup = import\n"
        "preload_modules_file = preload.txt\n"
        # Timeouts count as kills: leave room for a loaded machine (wall limit (test s + 60) x 2.5).
        f"timeout_multiplier = {multiplier}\n"
        f"timeout_constant = {constant}\n"
        "use_git_change_detection = false\n"
    )
    return folder


def run_module(
    name: str, jobs: int, recheck: bool = False, report_only: bool = False, only: list[str] | None = None
) -> dict:
    target, globs, tests = MODULES[name]
    folder = WORK / slug(name) if report_only else scratch(name, target, tests)
    mutmut = Path(sys.executable).parent / "mutmut"
    started = time.time()
    patterns = [module_prefix(f) + g for f in files(target) for g in only or globs or []]
    # mutmut keeps earlier results in mutants/ and re-runs only the mutants it is named.
    # Timeouts are re-run too: on a loaded machine a slow start, not the mutant, can time out.
    survivors = [
        mutant
        for f in ("survivors.txt", "timeouts.txt")
        if recheck and (folder / f).exists()
        for mutant in (folder / f).read_text().split()
    ]
    if recheck:  # and those a config change (the timeout) left unchecked, or no test reached then
        statuses = read_statuses(folder, target, patterns)
        survivors += [k for k, v in statuses.items() if v in ("not checked", "no tests")]
    if not recheck and not report_only:  # a fresh run: earlier results may come from other tests
        shutil.rmtree(folder / "mutants", ignore_errors=True)
    if recheck and not survivors:
        print(f"== {name}: no survivors to re-check", flush=True)
    cmd = [str(mutmut), "run", "--max-children", str(jobs), *(survivors or patterns)]
    log = folder / "run.log"
    print(f"== {name}: {' '.join(cmd[1:])} (log: {log.relative_to(ROOT)})", flush=True)
    code = 0
    if not report_only:
        with open(log, "w") as f:
            code = subprocess.call(cmd, cwd=folder, stdout=f, stderr=subprocess.STDOUT)
    statuses = read_statuses(folder, target, patterns)
    why = {k: equivalent(name, folder, k) for k, v in statuses.items() if v == "survived"}
    seconds = None if report_only else time.time() - started
    row = summarize(name, statuses, {k for k, w in why.items() if w}, seconds)
    row["exit"] = code
    survivors = sorted(k for k, w in why.items() if not w)
    (folder / "equivalent.txt").write_text("".join(f"{k}: {w}\n" for k, w in sorted(why.items()) if w))
    (folder / "survivors.txt").write_text("".join(f"{s}\n" for s in survivors))
    timeouts = sorted(k for k, v in statuses.items() if v == "timeout")
    (folder / "timeouts.txt").write_text("".join(f"{s}\n" for s in timeouts))
    print(
        f"   {row['line']}  exit {code}; survivors in {(folder / 'survivors.txt').relative_to(ROOT)}",
        flush=True,
    )
    return row


def read_statuses(folder: Path, target: str | tuple[str, ...], patterns: list[str]) -> dict[str, str]:
    """mutmut's verdict on each of this module's mutants (that it has a record of)."""
    if not (folder / "mutants").exists():
        return {}
    mutmut = Path(sys.executable).parent / "mutmut"
    results = subprocess.run(
        [str(mutmut), "results", "--all", "true"], cwd=folder, capture_output=True, text=True
    ).stdout
    statuses = {}
    for line in results.splitlines():
        m = STATUS_RE.match(line)
        if m and ours(m.group(1), [module_prefix(f) for f in files(target)], patterns):
            statuses[m.group(1)] = m.group(2).strip()
    return statuses


def module_prefix(target: str) -> str:
    mod = target.removesuffix(".py").replace("/", ".")
    return mod.removesuffix(".__init__") + "."


def ours(mutant: str, prefixes: list[str], patterns: list[str]) -> bool:
    """A mutant of this module's own functions (not a submodule's: genlab.data vs genlab.data.idx)."""
    if not any(mutant.startswith(p) and mutant[len(p) :].startswith("x") for p in prefixes):
        return False
    return not patterns or any(fnmatch.fnmatch(mutant, p) for p in patterns)


def summarize(name: str, statuses: dict, equivalents: set, seconds: float | None) -> dict:
    counts: dict[str, int] = {}
    for v in statuses.values():
        counts[v] = counts.get(v, 0) + 1
    equivalent = len(equivalents)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    survived = counts.get("survived", 0) - equivalent
    untested = sum(n for k, n in counts.items() if k not in ("killed", "timeout", "survived"))
    scored = killed + survived
    score = f"{100 * killed / scored:.0f}%" if scored else "-"
    line = (
        f"| {name} | {len(statuses)} | {killed} | {survived} | {equivalent} | {untested} | {score} "
        f"| {'-' if seconds is None else f'{seconds / 60:.0f} min'} | {dt.date.today().isoformat()} |"
    )
    return {"name": name, "line": line}


def write_table(rows: list[dict]) -> None:
    """Replace the rows of the modules just run; keep the others' last results."""
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    table, tail = rest.split(END, 1)
    old = {
        line.split("|")[1].strip(): line
        for line in table.splitlines()
        if line.startswith("| ") and "---" not in line
    }
    old.pop("module", None)
    old.update({r["name"]: r["line"] for r in rows})
    lines = [
        "| module | mutants | killed | survived | equivalent | not run | score | time | date |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *(old[n] for n in MODULES if n in old),
    ]
    DOC.write_text(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")))
    parser.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="mutate only these functions (mutant-name globs such as '*x_train__*'), instead of the "
        "module's own list: a partial run on a busy machine; the table then counts just those",
    )
    parser.add_argument(
        "--report", action="store_true", help="run nothing: rewrite the table from the last results"
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="re-run only the last run's survivors and timeouts (after adding tests)",
    )
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        raise SystemExit(f"mutation: unknown module {unknown[0]!r}; expected one of: {', '.join(MODULES)}")
    rows = [
        run_module(name, args.jobs, args.recheck, args.report, args.only) for name in args.modules or MODULES
    ]
    write_table(rows)
    print(f"table written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
