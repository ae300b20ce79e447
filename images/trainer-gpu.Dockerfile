# syntax=docker/dockerfile:1
# genlab trainer, GPU: TensorFlow's CUDA build. The CUDA and cuDNN libraries come as pip
# wheels (tensorflow[and-cuda]); the NVIDIA driver comes from the node (GKE's GPU device plugin).
# Build from the repository root:  make image-gpu
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# GKE mounts the node's driver (libcuda, libnvidia-ml, nvidia-smi) into every GPU container under
# /usr/local/nvidia and expects the image to look there: "Installing NVIDIA GPU drivers" / "CUDA
# libraries" in https://cloud.google.com/kubernetes-engine/docs/how-to/gpus, and the device plugin's
# -container-path (GoogleCloudPlatform/container-engine-accelerators, cmd/nvidia_gpu). The NVIDIA
# container runtime used elsewhere reads NVIDIA_VISIBLE_DEVICES instead and ignores these paths.
ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib64 \
    PATH=/usr/local/nvidia/bin:/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin

RUN groupadd --gid 1000 genlab \
 && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin genlab \
 && mkdir -p /mnt/genlab /minio /gcs /s3 /opt/genlab \
 && chown genlab:genlab /mnt/genlab /minio /gcs /s3

# The pinned FID feature extractors live on the shared volume every step mounts, so each dataset's
# is trained once and reused by every run's evaluate and generate (genlab/evaluate/features.py).
ENV GENLAB_FEATURE_STORE=/mnt/genlab/features

WORKDIR /opt/genlab

# genlab's `gpu` extra is tensorflow[and-cuda]: TensorFlow with the CUDA and cuDNN wheels. The
# dependencies are installed first (from pyproject alone) so code changes keep this layer cached.
COPY pyproject.toml README.md ./
COPY genlab/__init__.py genlab/__init__.py
RUN pip install ".[gpu]" && pip uninstall -y genlab
COPY genlab genlab
RUN pip install --no-deps . && python -c "import genlab, tensorflow as tf; print(genlab.__version__, tf.__version__)"

USER 1000:1000
CMD ["python", "-m", "genlab.train.worker", "--help"]
