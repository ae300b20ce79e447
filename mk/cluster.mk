# Cluster targets (included by the top-level Makefile). See docs/cluster.md.
#   make images        build the CPU and GPU trainer images (tags from genlab.images.trainer_image);
#                      GENLAB_IMAGE_REGISTRY=<registry> (command line or environment) picks the registry
#   make push-images   build, then push both to that registry (push-image-cpu: the CPU one only)
#   make kind-registry a local registry for the kind cluster at localhost:5001
#   make cluster-up    kind cluster + Kubeflow Pipelines + Training Operator + genlab's manifests + images
#   make integration   the tiny preset through KFP with a 2-worker TFJob (skips without a cluster)
#   make cluster-down  delete the kind cluster
#   make profile-up    genlab's accounts, Role, volume in a Kubeflow profile namespace (PROFILE_NAMESPACE)
KFP_VERSION ?= 2.5.0
TRAINING_OPERATOR_VERSION ?= v1.9.2
KIND_CLUSTER ?= genlab
KFP_NAMESPACE ?= genlab
KFP_PORT ?= 8080
DOCKER ?= docker
KIND ?= kind
KUBECTL ?= kubectl
# The image tags come from genlab.images, which reads GENLAB_IMAGE_REGISTRY. A `$(shell ...)`
# sees only the environment make was started with, not `make images GENLAB_IMAGE_REGISTRY=...`,
# so the make variable (from the command line or the environment) is passed in explicitly.
GENLAB_IMAGE_REGISTRY ?=
image_env = $(if $(strip $(GENLAB_IMAGE_REGISTRY)),GENLAB_IMAGE_REGISTRY='$(strip $(GENLAB_IMAGE_REGISTRY))')
CPU_IMAGE = $(shell $(image_env) $(BIN)/python -c "from genlab.images import trainer_image; print(trainer_image(False))")
GPU_IMAGE = $(shell $(image_env) $(BIN)/python -c "from genlab.images import trainer_image; print(trainer_image(True))")

# What `make cluster-up` waits for, by name (mk/wait-ready.sh prints describe and logs of any that
# is not ready): what a genlab run goes through in KFP 2.5.0's env/platform-agnostic (API server,
# UI, Argo, run status, ML Metadata, MySQL, MinIO, and the cache server with its deployer, which
# needs the cluster-scoped service account k8s/kfp/cluster-scoped moves into this namespace), and
# the Training Operator in its own namespace.
KFP_DEPLOYMENTS ?= ml-pipeline ml-pipeline-ui ml-pipeline-persistenceagent workflow-controller \
  metadata-grpc-deployment mysql minio cache-deployer-deployment cache-server
TRAINING_OPERATOR_DEPLOYMENTS ?= training-operator
READY_TIMEOUT ?= 900

# Multi-user Kubeflow: the profile namespace `make profile-up` sets up (k8s/overlays/profile).
PROFILE_NAMESPACE ?= kubeflow-user-example-com

# $(call need,tool,why): fail at once, naming the missing command.
need = @command -v $(1) >/dev/null 2>&1 || { echo "error: '$(1)' not found: $(2)" >&2; exit 1; }

.PHONY: images push-images push-image-cpu push-image-gpu kind-registry image-cpu image-gpu cluster-up cluster-down integration kfp-port-forward profile-up

images: image-cpu image-gpu

# Push the tags to the registry they were built for (docker login / gcloud auth configure-docker first).
push-images: push-image-cpu push-image-gpu

push-image-cpu: image-cpu
	$(DOCKER) push $(CPU_IMAGE)

push-image-gpu: image-gpu
	$(DOCKER) push $(GPU_IMAGE)

# A local registry for the kind cluster (mk/kind-registry.sh), to run with a registry other than
# the default: make kind-registry && make push-image-cpu GENLAB_IMAGE_REGISTRY=localhost:5001/genlab
KIND_REGISTRY_PORT ?= 5001
kind-registry:
	$(call need,$(DOCKER),install Docker (https://docs.docker.com/engine/install/))
	$(call need,$(KIND),install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation))
	DOCKER="$(DOCKER)" KIND="$(KIND)" KUBECTL="$(KUBECTL)" mk/kind-registry.sh $(KIND_CLUSTER) $(KIND_REGISTRY_PORT)

image-cpu: install
	$(call need,$(DOCKER),install Docker (https://docs.docker.com/engine/install/) to build images)
	$(DOCKER) build -f images/trainer.Dockerfile -t $(CPU_IMAGE) .

image-gpu: install
	$(call need,$(DOCKER),install Docker (https://docs.docker.com/engine/install/) to build images)
	$(DOCKER) build -f images/trainer-gpu.Dockerfile -t $(GPU_IMAGE) .

cluster-up: install image-cpu
	$(call need,$(KIND),install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation))
	$(call need,$(KUBECTL),install kubectl 1.27 or newer (kustomize built in))
	$(KIND) get clusters 2>/dev/null | grep -qx $(KIND_CLUSTER) || \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config k8s/kind/cluster.yaml --wait 120s
	$(KUBECTL) config use-context kind-$(KIND_CLUSTER)
	$(KUBECTL) apply -k k8s/overlays/kind
	$(KUBECTL) apply -k k8s/kfp/cluster-scoped
	$(KUBECTL) wait --for condition=established --timeout=120s crd/applications.app.k8s.io
	$(KUBECTL) apply -k k8s/kfp
	$(KUBECTL) apply --server-side -k "github.com/kubeflow/training-operator.git/manifests/overlays/standalone?ref=$(TRAINING_OPERATOR_VERSION)"
	$(KIND) load docker-image $(CPU_IMAGE) --name $(KIND_CLUSTER)
	KUBECTL="$(KUBECTL)" mk/wait-ready.sh kubeflow $(READY_TIMEOUT) $(TRAINING_OPERATOR_DEPLOYMENTS)
	KUBECTL="$(KUBECTL)" mk/wait-ready.sh $(KFP_NAMESPACE) $(READY_TIMEOUT) $(KFP_DEPLOYMENTS)
	$(KUBECTL) wait --for condition=complete --timeout=300s -n genlab job/genlab-data-owner || \
	  { $(KUBECTL) -n genlab describe job/genlab-data-owner; \
	    $(KUBECTL) -n genlab describe pods -l app.kubernetes.io/name=genlab-data-owner; \
	    $(KUBECTL) -n genlab logs -l app.kubernetes.io/name=genlab-data-owner --tail=50; exit 1; }
	@echo "cluster ready: run 'make kfp-port-forward' in another shell, then 'make integration'"

# Set up a Kubeflow profile namespace for genlab (multi-user Kubeflow; see docs/cluster.md):
#   make profile-up PROFILE_NAMESPACE=<profile namespace>
# kustomize takes no absolute paths and no namespace from the command line, so a throw-away
# kustomization next to k8s/overlays sets the namespace on top of k8s/overlays/profile.
profile-up:
	$(call need,$(KUBECTL),install kubectl 1.27 or newer (kustomize built in))
	@$(KUBECTL) get namespace $(PROFILE_NAMESPACE) >/dev/null || \
	  { echo "error: namespace $(PROFILE_NAMESPACE) does not exist: create the Kubeflow profile first" >&2; exit 1; }
	tmp=$$(mktemp -d k8s/.profile-XXXXXX) && \
	printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources:\n  - ../overlays/profile\n' \
	  '$(PROFILE_NAMESPACE)' > $$tmp/kustomization.yaml && \
	$(KUBECTL) apply -k $$tmp; rc=$$?; rm -rf $$tmp; exit $$rc

kfp-port-forward:
	$(call need,$(KUBECTL),install kubectl)
	$(KUBECTL) port-forward -n $(KFP_NAMESPACE) svc/ml-pipeline-ui $(KFP_PORT):80

cluster-down:
	$(call need,$(KIND),install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation))
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# GENLAB_IMAGE_REGISTRY (command line or environment) reaches the compile step in the test.
integration: install
	$(image_env) GENLAB_KFP_HOST=$${GENLAB_KFP_HOST:-http://localhost:$(KFP_PORT)} $(BIN)/pytest -q -m integration tests/integration
