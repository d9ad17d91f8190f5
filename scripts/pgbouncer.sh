#!/usr/bin/env bash
# Print the path of a PgBouncer that can do transaction pooling for bcgraph (1.21 or
# later, which tracks each client's prepared statements), building one if need be:
#   scripts/pgbouncer.sh [PREFIX]     (default PREFIX: /var/tmp/bcgraph-pgbouncer)
#
# The machine's own `pgbouncer` is used when it is recent enough. Debian 12's is 1.18,
# so otherwise Debian 13's source package (from Debian's own archive, as a deb-src
# entry) is built into PREFIX once and reused by later runs. Progress goes to stderr;
# stdout is only the path, for `BCGRAPH_TEST_PGBOUNCER="$(scripts/pgbouncer.sh)"`.
set -euo pipefail
prefix="${1:-/var/tmp/bcgraph-pgbouncer}"

recent() {
  local version
  version="$("$1" --version 2>/dev/null | awk 'NR==1 {print $2}')" || return 1
  [ -n "$version" ] || return 1
  local major minor
  IFS=. read -r major minor _ <<<"$version"
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge 21 ]; }
}

for candidate in "$(command -v pgbouncer || true)" /usr/sbin/pgbouncer "$prefix/bin/pgbouncer"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && recent "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done

echo "building PgBouncer from Debian 13's source package into $prefix" >&2
sources=/etc/apt/sources.list.d/bcgraph-pgbouncer-src.sources
cat >"$sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
trap 'rm -f "$sources"' EXIT
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev build-essential pkg-config \
  libevent-dev libssl-dev >/dev/null
work="$(mktemp -d)"
chmod 755 "$work"
(
  cd "$work"
  # As root apt would fetch as its sandbox user, which cannot write here.
  apt-get source -qq --download-only -o APT::Sandbox::User=root pgbouncer >&2
  tar xzf pgbouncer_*.orig.tar.gz
  cd pgbouncer-*/
  ./configure -q --prefix="$prefix" --without-cares --without-systemd --without-pam >&2
  make -s -j"$(nproc)" >&2
  make -s install >&2
)
rm -rf "$work"
recent "$prefix/bin/pgbouncer"
echo "$prefix/bin/pgbouncer"
