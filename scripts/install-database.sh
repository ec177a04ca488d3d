#!/usr/bin/env bash
# Makes PostgreSQL and the timescaledb extension available on this machine. Idempotent: every
# step first checks whether its result is already there, and each step says what it did.
#
#   1. PostgreSQL server: kept if installed, else Debian's `postgresql` package.
#   2. TimescaleDB for that PostgreSQL major: kept if the extension is already available, else
#      Debian's binary package if the configured suites carry one, else the Apache edition built
#      from Debian's `timescaledb` source package (trixie) against postgresql-server-dev-<major>.
#
# SPANTALLY_SKIP_TIMESCALEDB=1 stops after step 1 (SpanTally then runs in `postgres` mode).
set -euo pipefail

say() { printf '[install-database] %s\n' "$*"; }
die() { printf '[install-database] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
  else die "root is needed to run: $* (run this script as root or with passwordless sudo)"
  fi
}

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    say "refreshing the package lists"
    as_root apt-get update -qq >/dev/null
    apt_updated=1
  fi
}

apt_install() {
  apt_update_once
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

installed_pg_major() {
  local dir best=""
  for dir in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$dir" ] || continue
    dir=${dir#/usr/lib/postgresql/}; dir=${dir%%/*}
    if [ -z "$best" ] || [ "$dir" -gt "$best" ]; then best=$dir; fi
  done
  printf '%s' "$best"
}

# --- 1. PostgreSQL ------------------------------------------------------------------------
major=${SPANTALLY_PG_MAJOR:-$(installed_pg_major)}
if [ -n "$major" ] && [ -x "/usr/lib/postgresql/$major/bin/postgres" ]; then
  say "PostgreSQL $major is installed"
else
  apt_install postgresql
  major=$(installed_pg_major)
  [ -n "$major" ] || die "PostgreSQL did not install"
  say "installed PostgreSQL $major"
fi

if [ "${SPANTALLY_SKIP_TIMESCALEDB:-0}" = "1" ]; then
  say "SPANTALLY_SKIP_TIMESCALEDB=1: not installing TimescaleDB"
  exit 0
fi

# --- 2. TimescaleDB -----------------------------------------------------------------------
sharedir=/usr/share/postgresql/$major
control=$sharedir/extension/timescaledb.control
if [ -f "$control" ]; then
  version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$control")
  say "TimescaleDB $version is already available for PostgreSQL $major: nothing to do"
  exit 0
fi

apt_update_once
for pkg in "postgresql-$major-timescaledb" "timescaledb-2-postgresql-$major"; do
  candidate=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then
    apt_install "$pkg"
    say "installed TimescaleDB from Debian's package $pkg $candidate"
    exit 0
  fi
done

say "no TimescaleDB binary package for PostgreSQL $major; building the Apache edition from source"

# The trixie source line reuses the mirror the machine's own Debian sources point at.
src_list=/etc/apt/sources.list.d/spantally-timescaledb-src.sources
if [ ! -f "$src_list" ]; then
  mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
           | grep -v security | grep '/debian/\?$' | head -n 1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security \
             | grep '/debian/\?$' | head -n 1 || true)
  fi
  [ -n "$mirror" ] || die "found no Debian mirror in the apt sources to fetch the trixie source from"
  say "adding a deb-src entry for trixie on $mirror"
  printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" | as_root tee "$src_list" >/dev/null
  apt_updated=0
fi

apt_install "postgresql-server-dev-$major" cmake make gcc dpkg-dev libssl-dev

build_root=$(mktemp -d "${TMPDIR:-/tmp}/spantally-timescaledb.XXXXXX")
trap 'rm -rf "$build_root"' EXIT
cd "$build_root"
apt_update_once
say "fetching Debian's timescaledb source package"
apt-get source -qq timescaledb >/dev/null 2>&1 || apt-get source timescaledb
srcdir=$(find . -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -n 1)
[ -n "$srcdir" ] || die "the timescaledb source package did not unpack"
cd "$srcdir"
say "building $(basename "$srcdir") (Apache edition) against PostgreSQL $major"
./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
  -DSEND_TELEMETRY_DEFAULT=OFF -DPG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >build.log 2>&1 \
  || { tail -n 30 build.log >&2; die "configuring TimescaleDB failed"; }
make -C build -j"$(nproc)" >>build.log 2>&1 || { tail -n 30 build.log >&2; die "building TimescaleDB failed"; }
as_root make -C build install >>build.log 2>&1 || { tail -n 30 build.log >&2; die "installing TimescaleDB failed"; }
[ -f "$control" ] || die "TimescaleDB built but $control is missing"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$control")
say "built and installed TimescaleDB $version (Apache edition) for PostgreSQL $major"
