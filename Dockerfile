# syntax=docker/dockerfile:1
#
# fsl images. Build the CPU image (the default target, last below):
#
#   docker build -t fsl:cpu .
#   docker run --rm -p 8080:8080 fsl:cpu start --local-workers 2 --listen 0.0.0.0:4222 --http 0.0.0.0:8080
#
# Both binaries, fsl-coord (ENTRYPOINT) and fsl-worker, are in /usr/local/bin;
# run a worker with --entrypoint fsl-worker. They use cgo and OpenBLAS for the
# CPU kernels: libopenblas-dev to build, libopenblas0 at run time. The image
# runs as uid 65532 and keeps its state in /data (the bbolt store).
#
# The CUDA image (fsl-cuda, the k8s worker Job's image) is not built here: it
# is the same two stages with
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
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ENV CGO_ENABLED=1 GOFLAGS=-buildvcs=false
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/fsl-coord ./cmd/fsl-coord \
 && go build -trimpath -ldflags="-s -w" -o /out/fsl-worker ./cmd/fsl-worker

FROM debian:bookworm-slim AS cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown 65532:65532 /data
COPY --from=build /out/fsl-coord /out/fsl-worker /usr/local/bin/
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
# 4222: embedded NATS for workers; 8080: dashboard, /metrics, /status, /healthz.
EXPOSE 4222 8080
ENTRYPOINT ["fsl-coord"]
CMD ["start", "--db", "/data/fsl.db", "--listen", "0.0.0.0:4222", "--http", "0.0.0.0:8080", "--log-format", "json"]
