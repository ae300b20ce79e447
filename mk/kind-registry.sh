#!/usr/bin/env bash
# A local image registry for the kind cluster, so images can be pushed under a registry name
# other than the default one (GENLAB_IMAGE_REGISTRY=localhost:5001/genlab) and pulled by the
# nodes like from any real registry. Follows kind's "Local Registry" guide
# (https://kind.sigs.k8s.io/docs/user/local-registry/): node images of kind 0.27+ already read
# per-registry hosts.toml files from /etc/containerd/certs.d (containerd docs/hosts.md).
#
#   mk/kind-registry.sh CLUSTER [PORT]      (make kind-registry)
set -euo pipefail

cluster=${1:?usage: $0 CLUSTER [PORT]}
port=${2:-5001}
name=genlab-registry
DOCKER=${DOCKER:-docker}
KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}

# 1. The registry, reachable from this machine as localhost:$port.
if [ "$($DOCKER inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" != true ]; then
  $DOCKER run -d --restart=always -p "127.0.0.1:${port}:5000" --network bridge --name "$name" registry:2.8.3
fi

# 2. Inside a node, localhost is the node itself: map localhost:$port to the registry container.
for node in $($KIND get nodes --name "$cluster"); do
  dir="/etc/containerd/certs.d/localhost:${port}"
  $DOCKER exec "$node" mkdir -p "$dir"
  printf '[host."http://%s:5000"]\n' "$name" | $DOCKER exec -i "$node" cp /dev/stdin "$dir/hosts.toml"
done

# 3. Put the registry on kind's network (once), and advertise it to tools (KEP-1755).
if [ "$($DOCKER inspect -f '{{json .NetworkSettings.Networks.kind}}' "$name")" = null ]; then
  $DOCKER network connect kind "$name"
fi
$KUBECTL apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${port}"
YAML
echo "registry ready: make push-image-cpu GENLAB_IMAGE_REGISTRY=localhost:${port}/genlab"
