# fsl images. Build the CPU image (the default target, last below) with the
# classic builder or BuildKit, nothing fetched but the two base images and
# Go modules:
#
#   docker build -t fsl:latest .
#   docker run --rm -p 8080:8080 -e FSL_TOKEN=$(openssl rand -hex 16) -e FSL_HTTP_TOKEN=$(openssl rand -hex 16) \
#     -v fsl-data:/data fsl:latest start --local-workers 2 --listen 0.0.0.0:4222 --http 0.0.0.0:8080 --db /data/fsl.db
#
# scripts/docker-check.sh builds it and trains a job with a coordinator and
# two worker containers. Both binaries, fsl-coord (ENTRYPOINT) and
# fsl-worker, are in /usr/local/bin; run a worker with --entrypoint
# fsl-worker (and --no-healthcheck: the HEALTHCHECK asks the coordinator's
# monitor). They use cgo: OpenBLAS is opened at run time (dlopen, see
# model/cpu/blas_cgo.go), so the build needs only the Go image's C compiler
# and the runtime stage installs the shared library, libopenblas0. The image
# runs as uid 65532. The coordinator keeps its state in the bbolt store
# named by --db: mount a volume at /data for it (the image declares none,
# so workers leave no anonymous volume behind). The default command refuses
# to start without FSL_TOKEN and FSL_HTTP_TOKEN: it serves NATS and the
# monitor on 0.0.0.0.
#
# The CUDA image (fsl-cuda, the worker image of k8s/overlays/gpu) is not
# built here: it is the same two stages with
#   build:   this build stage plus scripts/cuda/install-toolkit.sh (Debian's
#            contrib/non-free nvidia-cuda-toolkit 11.8 and libcuda1, for
#            cuda.h and libcuda.so to link against), then
#            scripts/cuda/build.sh (go build -tags fslcuda; the kernels'
#            PTX is committed, so nvcc is optional);
#   runtime: this runtime stage with bin/cuda/fsl-worker, ENTRYPOINT
#            ["fsl-worker"] and CMD ["--gpu", "0"]; no CUDA libraries in the
#            image: the NVIDIA container runtime mounts the host driver's
#            libcuda.so.1 (driver for CUDA 11.8 or newer);
# and runs under the NVIDIA container runtime (k8s: nvidia.com/gpu limits).
# The binary needs glibc 2.34 or newer. Not yet run on a GPU (README, "GPU workers").

# Keep in step with the go directive of go.mod (a test checks).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a source change reuses this layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git, so the binaries cannot stamp their VCS
# revision themselves: pass it (docker build --build-arg REVISION=$(git
# rev-parse HEAD) --build-arg VERSION=...), and --version says what the image
# holds.
ARG VERSION=devel
ARG REVISION=unknown
ENV CGO_ENABLED=1 GOFLAGS=-buildvcs=false
RUN flags="-s -w -X github.com/fsl-project/fsl/cli.Version=${VERSION} -X github.com/fsl-project/fsl/cli.Revision=${REVISION}" \
 && go build -trimpath -ldflags="$flags" -o /out/fsl-coord ./cmd/fsl-coord \
 && go build -trimpath -ldflags="$flags" -o /out/fsl-worker ./cmd/fsl-worker

FROM debian:bookworm-slim AS cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown 65532:65532 /data
COPY --from=build /out/fsl-coord /out/fsl-worker /usr/local/bin/
USER 65532:65532
WORKDIR /data
# 4222: embedded NATS for workers; 8080: dashboard, /metrics, /status, /healthz.
EXPOSE 4222 8080
# The coordinator's monitor answers (status reads FSL_HTTP_TOKEN from the
# container's environment). Worker containers: --no-healthcheck.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["fsl-coord", "status", "--http", "http://127.0.0.1:8080", "--timeout", "3s"]
ENTRYPOINT ["fsl-coord"]
CMD ["start", "--db", "/data/fsl.db", "--listen", "0.0.0.0:4222", "--http", "0.0.0.0:8080", "--log-format", "json"]
