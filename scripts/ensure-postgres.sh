#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for the role the suite
# uses (root, a superuser: it creates and drops its own databases). On a fresh Debian machine this
# installs the server, adds the trust rule for 127.0.0.1 and ::1 ahead of Debian's password rules,
# starts the cluster and creates the role; on a machine where all that is done it only checks.
set -euo pipefail
role="${BERTH_TEST_PG_ROLE:-root}"

answers() { psql -h 127.0.0.1 -p 5432 -U "$role" -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
# A throwaway server for tests: many connections (two suites side by side, xdist workers), and no
# waiting on the disk at each commit (a crash loses the test databases, nothing else; isolation and
# locking are the same).
settings="max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off"
tuned() { ls /etc/postgresql/*/main/conf.d/berth-tests.conf >/dev/null 2>&1 \
  && [ "$(cat /etc/postgresql/*/main/conf.d/berth-tests.conf | head -n 4)" = "$settings" ]; }

if answers && { tuned || [ "$(id -u)" != 0 ]; }; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL does not answer on 127.0.0.1:5432 as '$role' with trust auth;" \
       "run this script as root once, or start one yourself" >&2
  exit 1
fi
if ! ls /etc/postgresql/*/main/postgresql.conf >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql || { apt-get update -q && apt-get install -y -q postgresql; }
fi
ver=$(ls /etc/postgresql | sort -V | tail -n1)
conf=/etc/postgresql/$ver/main
hba=$conf/pg_hba.conf
marker="# berth test suite: trust on loopback"
if ! grep -qF "$marker" "$hba"; then
  tmp=$(mktemp)
  {
    echo "$marker"
    echo "host    all    all    127.0.0.1/32    trust"
    echo "host    all    all    ::1/128         trust"
    cat "$hba"
  } > "$tmp"
  cat "$tmp" > "$hba"
  rm -f "$tmp"
fi
echo "$settings" > "$conf/conf.d/berth-tests.conf"
if pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
else
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start
fi
for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
su postgres -c "psql -Atqc \"select 1 from pg_roles where rolname = '$role'\"" | grep -q 1 \
  || su postgres -c "psql -qc 'create role \"$role\" login superuser'"
answers || { echo "PostgreSQL still does not answer as '$role' on 127.0.0.1:5432" >&2; exit 1; }
