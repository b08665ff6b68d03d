#!/usr/bin/env bash
# Install the Debian packages the test suite drives for real, when missing and running as root.
set -euo pipefail
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
# podman kube play needs catatonit for its pause container (a Recommends, skipped below).
command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || need+=(catatonit)
# Components of an application find each other by pod name on their team's network (CNI dnsname + dnsmasq).
[ -x /usr/lib/cni/dnsname ] || need+=(golang-github-containernetworking-plugin-dnsname)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v skopeo >/dev/null || need+=(skopeo)
# The compose import's parser is compared with Debian's docker-compose `config` (never run as an engine).
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v chromium >/dev/null || need+=(chromium)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v openssl >/dev/null || need+=(openssl)
command -v wrk >/dev/null || need+=(wrk)
command -v psql >/dev/null || need+=(postgresql-client)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "Missing Debian packages: ${need[*]} (run as root, or install them yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
