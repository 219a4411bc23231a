#!/usr/bin/env bash
# Builds the image from the Dockerfile and trains one job with it: a
# coordinator container and two worker containers on host networking, to a
# finished job. Not a CI step: it needs a Docker daemon (20.10 or newer;
# the classic builder or BuildKit) and a few minutes.
#
#   bash scripts/docker-check.sh              # from the repository root
#   bash scripts/docker-check.sh --make-base  # first make the base images (below)
#
# It checks, and prints a summary of:
#   - the image builds (time, size) and runs as a non-root user, with no
#     anonymous volume in worker containers;
#   - the default command refuses to serve without FSL_TOKEN (exit non-zero);
#   - the coordinator's HEALTHCHECK turns healthy while it trains;
#   - coordinator and workers exit 0 at the end of the job, and the
#     coordinator's summary says "done: step N" with the parameters' SHA-256;
#   - an evaluation container started beside them on the same volume
#     (eval --wait, as the k8s eval Job runs) waits for the training and
#     then evaluates the best checkpoint.
#
# --make-base is for machines that reach no image registry: it makes the
# two base images the Dockerfile names (debian:bookworm-slim and
# golang:GO-bookworm) from Debian packages with debootstrap, this machine's
# Go toolchain (go env GOROOT) and its CA certificates (so builds behind a
# TLS-inspecting proxy reach the Go module proxy and Debian's archive). It
# needs root, debootstrap and network access to deb.debian.org.
#
# Environment: IMAGE (fsl:check), STEPS (200), NATS_PORT (14222),
# HTTP_PORT (18080), TIMEOUT seconds for the job (900), KEEP=1 keeps the
# containers and volume for inspection.
set -euo pipefail

IMAGE=${IMAGE:-fsl:check}
STEPS=${STEPS:-200}
NATS_PORT=${NATS_PORT:-14222}
HTTP_PORT=${HTTP_PORT:-18080}
TIMEOUT=${TIMEOUT:-900}
NAME=fsl-check
JOB=docker-check
GO_VERSION=$(sed -n 's/^ARG GO_VERSION=//p' Dockerfile)

say() { printf 'docker-check: %s\n' "$*"; }
die() { say "FAIL: $*"; exit 1; }

[ -f Dockerfile ] && [ -f go.mod ] || die "run from the repository root"
docker info >/dev/null 2>&1 || die "no Docker daemon (start dockerd, or check DOCKER_HOST)"

make_base() {
	command -v debootstrap >/dev/null || die "--make-base needs debootstrap (apt-get install debootstrap)"
	local work rootfs goroot
	work=$(mktemp -d)
	rootfs=$work/rootfs
	say "making debian:bookworm-slim with debootstrap (minbase) in $rootfs"
	debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $work/debootstrap.log"
	# This machine's CA certificates: update-ca-certificates (run when an
	# image installs ca-certificates) adds those of /usr/local/share.
	mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/etc/ssl/certs"
	cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
	cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
	tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
	goroot=$(go env GOROOT)
	say "making golang:${GO_VERSION}-bookworm: gcc, libc6-dev, ca-certificates and $goroot ($(go env GOVERSION))"
	mkdir -p "$work/go"
	cp -a "$goroot" "$work/go/go"
	cp /etc/ssl/certs/ca-certificates.crt "$work/go/host-ca.crt"
	cat >"$work/go/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
COPY host-ca.crt /etc/ssl/certs/ca-certificates.crt
COPY go /usr/local/go
ENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
EOF
	docker build --network host -q -t "golang:${GO_VERSION}-bookworm" "$work/go" >/dev/null
	rm -rf "$work"
}

if [ "${1:-}" = --make-base ]; then
	make_base
fi
for base in debian:bookworm-slim "golang:${GO_VERSION}-bookworm"; do
	docker image inspect "$base" >/dev/null 2>&1 || docker pull -q "$base" >/dev/null 2>&1 ||
		die "base image $base is neither here nor pullable; run with --make-base"
done

cleanup() {
	if [ "${KEEP:-}" = 1 ]; then
		say "kept containers $NAME-* and volume $NAME-data"
		return
	fi
	docker rm -f "$NAME-coord" "$NAME-w1" "$NAME-w2" "$NAME-eval" "$NAME-open" >/dev/null 2>&1 || true
	docker volume rm -f "$NAME-data" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

say "building $IMAGE"
began=$(date +%s)
docker build --network host -t "$IMAGE" \
	--build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
	--build-arg VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo devel)" . >"${TMPDIR:-/tmp}/$NAME-build.log" 2>&1 ||
	{ tail -30 "${TMPDIR:-/tmp}/$NAME-build.log"; die "docker build failed (log: ${TMPDIR:-/tmp}/$NAME-build.log)"; }
built=$(($(date +%s) - began))
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
say "built in ${built}s, $((size / 1000000)) MB, user $user"
case "$user" in "" | 0 | 0:* | root*) die "the image runs as root" ;; esac

# The default command serves NATS and the monitor on 0.0.0.0: without
# credentials it must refuse to start.
if out=$(timeout 60 docker run --name "$NAME-open" --network host "$IMAGE" 2>&1); then
	die "the default command started without FSL_TOKEN: $out"
elif [ $? = 124 ]; then
	die "the default command still serves after 60s without FSL_TOKEN"
fi
say "default command without tokens refused: $(printf '%s' "$out" | head -c 160)..."
docker rm -f "$NAME-open" >/dev/null

# OpenBLAS's kernel choice (OPENBLAS_CORETYPE and its cache sizes) is part
# of a run's bits: containers get this machine's, when set, so the job's
# parameters can be compared with a run here.
blas_env=()
for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
	[ -n "${!v:-}" ] && blas_env+=(-e "$v")
done

token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
http_token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
docker volume create "$NAME-data" >/dev/null
docker run -d --name "$NAME-coord" --network host -v "$NAME-data:/data" "${blas_env[@]}" \
	-e FSL_TOKEN="$token" -e FSL_HTTP_TOKEN="$http_token" \
	--health-cmd "fsl-coord status --http http://127.0.0.1:$HTTP_PORT --timeout 3s" --health-interval 2s \
	"$IMAGE" start --job "$JOB" --db /data/fsl.db --listen "0.0.0.0:$NATS_PORT" --http "0.0.0.0:$HTTP_PORT" \
	--steps "$STEPS" --shards 4 --checkpoint-every 10 --eval-every 20 --eval-episodes 100 --log-format json >/dev/null
for w in 1 2; do
	docker run -d --name "$NAME-w$w" --network host --no-healthcheck -e FSL_TOKEN="$token" "${blas_env[@]}" --entrypoint fsl-worker \
		"$IMAGE" --nats "nats://127.0.0.1:$NATS_PORT" --job "$JOB" --threads 1 --give-up-after 5m --name "w$w" \
		--log-format json >/dev/null
done
docker run -d --name "$NAME-eval" --network host --no-healthcheck -v "$NAME-data:/data" "${blas_env[@]}" \
	"$IMAGE" eval --wait 10m --db /data/fsl.db --job "$JOB" --checkpoint best --way 5 --shot 1 --episodes 100 --json --progress never >/dev/null
mounts=$(docker inspect -f '{{len .Mounts}}' "$NAME-w1")
[ "$mounts" = 0 ] || die "worker container has $mounts mounts (an anonymous volume?)"
say "coordinator, 2 workers and a waiting evaluation started on host networking (NATS :$NATS_PORT, monitor :$HTTP_PORT); workers have no volumes"

healthy=no
began=$(date +%s)
while [ "$(docker inspect -f '{{.State.Running}}' "$NAME-coord")" = true ]; do
	[ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME-coord")" = healthy ] && healthy=yes
	[ $(($(date +%s) - began)) -lt "$TIMEOUT" ] || { docker logs --tail 20 "$NAME-coord"; die "job not done within ${TIMEOUT}s"; }
	sleep 2
done
took=$(($(date +%s) - began))
coord_rc=$(docker inspect -f '{{.State.ExitCode}}' "$NAME-coord")
w1_rc=$(docker wait "$NAME-w1")
w2_rc=$(docker wait "$NAME-w2")
# The summary line: "done: step N, ... params sha256 HEX".
done_line=$(docker logs "$NAME-coord" 2>&1 | grep '^done: step' | tail -1 || true)
sha=$(printf '%s' "$done_line" | sed -n 's/.*params sha256 \([0-9a-f]\{64\}\).*/\1/p')
shards1=$(docker logs "$NAME-w1" 2>&1 | sed -n 's/.*"msg":"worker exiting".*"shards":\([0-9]*\).*/\1/p' | tail -1)
shards2=$(docker logs "$NAME-w2" 2>&1 | sed -n 's/.*"msg":"worker exiting".*"shards":\([0-9]*\).*/\1/p' | tail -1)
say "job $JOB: $STEPS steps in ${took}s; coordinator exit $coord_rc, workers exit $w1_rc and $w2_rc (shards ${shards1:-?} and ${shards2:-?}); healthy seen: $healthy"
say "${done_line:-no summary line}"
eval_rc=$(docker wait "$NAME-eval")
eval_acc=$(docker logs "$NAME-eval" 2>/dev/null | sed -n 's/.*"mean": *\([0-9.]*\).*/\1/p' | head -1)
eval_step=$(docker logs "$NAME-eval" 2>/dev/null | sed -n 's/^  "step": *\([0-9]*\).*/\1/p' | head -1)
say "evaluation: exit $eval_rc, checkpoint step ${eval_step:-?}, 5-way 1-shot mean accuracy ${eval_acc:-?}; it said: $(docker logs "$NAME-eval" 2>&1 >/dev/null | tr '\n' ' ' | head -c 200)"
[ "$coord_rc" = 0 ] && [ "$w1_rc" = 0 ] && [ "$w2_rc" = 0 ] || { docker logs --tail 20 "$NAME-coord"; die "a container exited non-zero"; }
[ -n "$sha" ] || die "the coordinator's output has no \"done: step\" summary with the params sha256"
[ "$healthy" = yes ] || die "the coordinator never turned healthy"
[ "$eval_rc" = 0 ] && [ -n "$eval_acc" ] || { docker logs --tail 20 "$NAME-eval"; die "the evaluation beside the training failed"; }
say "OK"
