#!/usr/bin/env bash
# Build a command-line tool the tests need from its Go module, once, into a cache keyed by its
# version (only Go modules are fetched: never a release binary). Prints the binary's path last.
#   scripts/go-tool.sh helm
#   scripts/go-tool.sh cosign
set -euo pipefail
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "go-tool: Go is needed to build $1 (go not on the PATH)" >&2; exit 1; }
case "${1:-}" in
  helm) module=helm.sh/helm/v4/cmd/helm version=v4.3.2 ;;
  cosign) module=github.com/sigstore/cosign/v2/cmd/cosign version=v2.6.5 ;;
  *) echo "usage: $0 helm|cosign" >&2; exit 2 ;;
esac
name=$1
dir="${BERTH_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/tools}/$name-$version-$(go env GOVERSION)"
if [ -x "$dir/$name" ]; then
  echo "$dir/$name"
  exit 0
fi
start=$(date +%s)
echo "go-tool: building $name $version from $module (once)" >&2
mkdir -p "$dir.tmp"
GOFLAGS="-trimpath -buildvcs=false" GOBIN="$dir.tmp" go install -ldflags="-s -w" "$module@$version"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "go-tool: $name built in $(( $(date +%s) - start )) s" >&2
echo "$dir/$name"
