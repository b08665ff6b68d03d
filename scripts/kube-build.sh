#!/usr/bin/env bash
# Build the test control plane from Go modules once, into a cache keyed by the pinned versions:
# etcd (tools/kube/etcd), kube-apiserver, kube-controller-manager, kube-scheduler and kubectl
# (tools/kube/k8s: k8s.io/kubernetes with its staging modules pinned to the same release) and KWOK.
# Nothing is downloaded but Go modules. Prints the cache folder's bin/ on the last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "kube: Go is needed to build the test control plane (go not on the PATH)" >&2; exit 1; }
KWOK_VERSION=v0.8.0
key=$( { cat "$root"/tools/kube/*/go.mod "$root"/tools/kube/*/go.sum; echo "kwok $KWOK_VERSION"; go env GOVERSION; } \
  | sha256sum | cut -c1-16)
cache="${BERTH_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/kube}/$key"
bin="$cache/bin"
if [ -f "$cache/complete" ]; then
  echo "kube: reusing the control plane built in $cache ($(cat "$cache/complete"))" >&2
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
start=$(date +%s)
echo "kube: building etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok into $cache (once; minutes on 2 cores)" >&2
export GOFLAGS="-trimpath -buildvcs=false"
(cd "$root/tools/kube/etcd" && go build -ldflags="-s -w" -o "$bin/etcd" .)
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  (cd "$root/tools/kube/k8s" && go build -ldflags="-s -w" -o "$bin/$cmd" "k8s.io/kubernetes/cmd/$cmd")
done
GOBIN="$bin" go install -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
took=$(( $(date +%s) - start ))
echo "built in ${took} s on $(date -u +%FT%TZ)" > "$cache/complete"
echo "kube: control plane built in ${took} s" >&2
echo "$bin"
