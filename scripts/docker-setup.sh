#!/bin/sh
# Make a Docker engine and the debian:bookworm-slim base image available (idempotent).
#
# Run as root. Each step is skipped when its result is already there:
#   1. docker.io + debootstrap installed (apt-get)
#   2. an engine answering `docker info`; otherwise start
#      `dockerd --iptables=false --bridge=none --storage-driver=vfs` in the background
#      (these machines have no iptables/bridge privileges; vfs works on any filesystem)
#   3. debian:bookworm-slim present: `docker pull`, else build it offline with
#      `debootstrap --variant=minbase` + `docker import` (Docker Hub is often unreachable)
#
# Environment:
#   CROSSJIT_DOCKERD_LOG      dockerd's log file      (default /var/log/crossjit-dockerd.log)
#   CROSSJIT_DOCKER_DEADLINE  seconds to wait for the engine (default 60)
#   CROSSJIT_PULL_DEADLINE    seconds to wait for `docker pull` (default 30)
#   CROSSJIT_DEBIAN_MIRROR    debootstrap mirror      (default http://deb.debian.org/debian)
set -eu

log() { echo "docker-setup: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts dockerd)"

DOCKERD_LOG=${CROSSJIT_DOCKERD_LOG:-/var/log/crossjit-dockerd.log}
DEADLINE=${CROSSJIT_DOCKER_DEADLINE:-60}
PULL_DEADLINE=${CROSSJIT_PULL_DEADLINE:-30}
MIRROR=${CROSSJIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=debian:bookworm-slim

# 1. packages
need=""
command -v dockerd >/dev/null 2>&1 || need="$need docker.io"
command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap"
if [ -n "$need" ]; then
    log "installing$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# 2. engine
if docker info >/dev/null 2>&1; then
    log "engine already running"
else
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: the engine outlives this script and the CI step's process group.
    setsid dockerd --iptables=false --bridge=none --storage-driver=vfs \
        >>"$DOCKERD_LOG" 2>&1 </dev/null &
    waited=0
    until docker info >/dev/null 2>&1; do
        if [ "$waited" -ge "$DEADLINE" ]; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd did not answer within ${DEADLINE}s (see $DOCKERD_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "engine up after ${waited}s"
fi

# 3. base image
if docker image inspect "$BASE" >/dev/null 2>&1; then
    log "$BASE present"
elif timeout "$PULL_DEADLINE" docker pull -q "$BASE" >/dev/null 2>&1; then
    log "pulled $BASE"
else
    log "cannot pull $BASE; building it with debootstrap (about a minute)"
    root=$(mktemp -d /tmp/crossjit-bookworm.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1 || {
        tail -n 20 "$root.log" >&2
        die "debootstrap failed (see $root.log)"
    }
    # Like the official image: security and point-release updates enabled, no apt
    # lists, caches or docs.
    {
        echo "deb $MIRROR bookworm main"
        echo "deb $MIRROR bookworm-updates main"
        echo "deb http://deb.debian.org/debian-security bookworm-security main"
    } >"$root/etc/apt/sources.list"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
    chmod 755 "$root" # mktemp -d made it 0700, which would become the image's / mode
    tar -C "$root" -c . | docker import \
        -c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$BASE" >/dev/null
    rm -f "$root.log"
    log "imported $BASE"
fi
