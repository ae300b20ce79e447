# syntax=docker/dockerfile:1
# genlab trainer, CPU: the pipeline steps and the TFJob workers run this image.
# Build from the repository root:  make image-cpu
#   (docker build -f images/trainer.Dockerfile -t "$(python -c 'from genlab.images import trainer_image; print(trainer_image(False))')" .)
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# A non-root user (uid 1000, as the TFJob pods' securityContext expects). KFP 2.x's launcher
# writes local copies of artifacts under /minio, /gcs and /s3, so those belong to it too.
RUN groupadd --gid 1000 genlab \
 && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin genlab \
 && mkdir -p /mnt/genlab /minio /gcs /s3 /opt/genlab \
 && chown genlab:genlab /mnt/genlab /minio /gcs /s3

# The pinned FID feature extractors live on the shared volume every step mounts, so each dataset's
# is trained once and reused by every run's evaluate and generate (genlab/evaluate/features.py).
ENV GENLAB_FEATURE_STORE=/mnt/genlab/features

WORKDIR /opt/genlab

# Dependencies first (the heavy, rarely-changing layer): the package metadata and the one
# module setuptools reads the version from.
COPY pyproject.toml README.md ./
COPY genlab/__init__.py genlab/__init__.py
RUN pip install ".[cpu]" && pip uninstall -y genlab

# Then the library itself.
COPY genlab genlab
RUN pip install --no-deps . && python -c "import genlab, tensorflow as tf; print(genlab.__version__, tf.__version__)"

USER 1000:1000
CMD ["python", "-m", "genlab.train.worker", "--help"]
