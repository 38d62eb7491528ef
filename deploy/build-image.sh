#!/usr/bin/env bash
# Build the service image from the Dockerfile without Docker, then run it and check it answers.
#
#   deploy/build-image.sh            # base from debootstrap (cached), image medreward:local, run + check
#   BASE=python:3.11-slim deploy/build-image.sh   # where a registry is reachable
#
# There is no Docker engine and no registry here: debootstrap makes a Debian bookworm base
# (Python 3.11, like python:3.11-slim) with the host's CA bundle in it (so that pip reaches PyPI
# through this network's TLS proxy), buildah builds the Dockerfile on it with --isolation chroot,
# and `buildah run --isolation chroot --network host` runs the image's command (podman run cannot
# here: setrlimit is refused). Needs root and: apt-get install -y debootstrap buildah podman
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-localhost/medreward:local}"
BASE="${BASE:-localhost/medreward-base:bookworm}"
WORK="${WORK:-/var/tmp/medreward-image}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
PORT="${PORT:-18931}"
KEY="image-check-key-4e2a"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
export BUILDAH_ISOLATION=chroot STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"

say() { printf '[build-image %(%H:%M:%S)T] %s\n' -1 "$*"; }
need() { command -v "$1" >/dev/null || { echo "build-image: $1 not found: apt-get install -y $2" >&2; exit 2; }; }
need buildah buildah
need podman podman
[ "$(id -u)" = 0 ] || { echo "build-image: run as root (debootstrap and chroot builds need it)" >&2; exit 2; }

# ---- 1. the base: Debian bookworm by debootstrap, imported once, reused afterwards ----------------
if [[ "$BASE" == localhost/medreward-base:* ]] && ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
    need debootstrap debootstrap
    say "debootstrap bookworm into $WORK/rootfs"
    rm -rf "$WORK/rootfs" && mkdir -p "$WORK"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$WORK/rootfs" "$MIRROR" \
        > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    # The host's bundle holds the CA of this network's TLS proxy; without it pip cannot reach PyPI.
    cp "$CA_BUNDLE" "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    say "import the base as $BASE"
    tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
fi

# ---- 2. the image --------------------------------------------------------------------------------
say "buildah build $IMAGE on $BASE"
buildah build --isolation chroot --network host --format docker --layers \
    --build-arg "BASE=$BASE" -t "$IMAGE" -f Dockerfile . > "${WORK}/build.log" 2>&1 \
    || { tail -40 "${WORK}/build.log" >&2; exit 1; }
say "built $IMAGE"

# ---- 3. run the image's command and check it ------------------------------------------------------
buildah inspect --type image "$IMAGE" > "$WORK/inspect.json"
# The image's config: its command, a non-root user, a healthcheck; the command's words one per line.
mapfile -t CMD < <(python3 - "$WORK/inspect.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))["Docker"]["config"]
assert cfg.get("User") not in (None, "", "root", "0"), f"the image runs as root: {cfg.get('User')!r}"
assert cfg.get("Healthcheck", {}).get("Test"), "the image has no HEALTHCHECK"
print("\n".join(cfg["Cmd"]))
PY
)
[ "${#CMD[@]}" -gt 0 ] || { echo "build-image: could not read the image's command" >&2; exit 1; }
USER_NAME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Docker"]["config"]["User"])' "$WORK/inspect.json")
CTR=$(buildah from "$IMAGE")
cleanup() { [ -n "${RUN_PID:-}" ] && kill "$RUN_PID" 2>/dev/null; wait 2>/dev/null; buildah rm "$CTR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
say "run ${CMD[*]} as $USER_NAME on 127.0.0.1:$PORT"
buildah run --isolation chroot --network host "$CTR" -- env MEDREWARD_HOST=127.0.0.1 MEDREWARD_PORT="$PORT" \
    MEDREWARD_API_KEYS="$KEY:image" "${CMD[@]}" > "$WORK/run.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$PORT/readyz" -o "$WORK/readyz.json" 2>/dev/null; then break; fi
    kill -0 "$RUN_PID" 2>/dev/null || { echo "build-image: the service exited:" >&2; tail -30 "$WORK/run.log" >&2; exit 1; }
    sleep 0.5
done
python3 - "$WORK/readyz.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "ready" and r["store"] and r["models"].get("loaded"), r
print("readyz:", json.dumps(r)[:200])
PY
curl -fsS -X POST "http://127.0.0.1:$PORT/v1/score" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d '{"profile": "grounding-medloc", "items": [{"completion": "<think>ok</think><answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 50]]}]}' \
    -o "$WORK/score.json"
curl -fsS -X POST "http://127.0.0.1:$PORT/v1/rewards/semantic" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d '{"items": [{"completion": "<answer>small left pleural effusion</answer>", "reference": "left pleural effusion, small"}]}' \
    -o "$WORK/semantic.json"
python3 - "$WORK/score.json" "$WORK/semantic.json" <<'PY'
import json, sys
score, sem = (json.load(open(p)) for p in sys.argv[1:3])
assert score["rewards"] == [1.0], score
assert sem["rewards"][0] is not None and sem["rewards"][0] > 0.5, sem
print("score:", score["rewards"], "semantic:", sem["rewards"], sem["details"][0].get("backend", ""))
PY
say "image $IMAGE: ready, scoring OK"
