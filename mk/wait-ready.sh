#!/usr/bin/env bash
# Wait until the named deployments are Available; for each one that is not, print what a person
# needs to see why: `kubectl describe` of the deployment and its pods, and the pods' logs.
#
#   mk/wait-ready.sh NAMESPACE TIMEOUT_SECONDS DEPLOYMENT...
#
# All deployments share one deadline. Exit status 1 names every deployment that was not ready.
# KUBECTL overrides the kubectl command (make passes its own).
set -uo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 NAMESPACE TIMEOUT_SECONDS DEPLOYMENT..." >&2
  exit 2
fi
KUBECTL=${KUBECTL:-kubectl}
ns=$1
timeout=$2
shift 2
deadline=$(($(date +%s) + timeout))
not_ready=()

for name in "$@"; do
  left=$((deadline - $(date +%s)))
  [ "$left" -lt 1 ] && left=1
  if ! $KUBECTL -n "$ns" wait --for=condition=available --timeout="${left}s" "deployment/$name"; then
    not_ready+=("$name")
  fi
done

[ ${#not_ready[@]} -eq 0 ] && exit 0

for name in "${not_ready[@]}"; do
  echo
  echo "===== deployment $ns/$name is not available: describe ====="
  if ! $KUBECTL -n "$ns" describe "deployment/$name"; then
    echo "(deployment $ns/$name does not exist: was its manifest applied to namespace $ns?)"
    continue
  fi
  selector=$($KUBECTL -n "$ns" get "deployment/$name" \
    -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}')
  selector=${selector%,}
  [ -z "$selector" ] && continue
  echo "===== pods of $ns/$name ($selector): describe ====="
  $KUBECTL -n "$ns" describe pods -l "$selector"
  echo "===== pods of $ns/$name: last 50 log lines of every container ====="
  $KUBECTL -n "$ns" logs -l "$selector" --all-containers --prefix --tail=50 --ignore-errors
done
echo
echo "error: not available after ${timeout}s in namespace $ns: ${not_ready[*]}" >&2
exit 1
