#!/usr/bin/env bash
# build.sh: builds the CUDA worker on a machine without a GPU (Debian 12 with
# scripts/cuda/install-toolkit.sh run once), into bin/cuda/:
#   fsl-worker, fsl-coord   the binaries built with -tags fslcuda (cgo, linked
#                           against libcuda.so.1)
#   model.test, gpu.test    test binaries for scripts/cuda/device-check.sh
# Steps: regenerate model/gpu/kernels.ptx with nvcc when nvcc exists (else
# keep the committed one), go build, go test -c, and show that the worker
# links libcuda.so.1. Run from anywhere; exits non-zero on the first failure.
#
# The tag is fslcuda, not cuda: "cuda" switches on Gorgonia's own GPU path,
# which needs cudagen output and cuDNN. Override the CUDA paths with
# CUDA_INCLUDE (default /usr/include, where Debian puts cuda.h) and
# CUDA_LIB (default /usr/lib/x86_64-linux-gnu, libcuda.so).
set -euo pipefail

die() { echo "build.sh: FAILED: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=bin/cuda
inc=${CUDA_INCLUDE:-/usr/include}
lib=${CUDA_LIB:-/usr/lib/x86_64-linux-gnu}

command -v go >/dev/null || die "go not found on PATH"
[ -f "$inc/cuda.h" ] || die "$inc/cuda.h not found: run scripts/cuda/install-toolkit.sh (as root) or set CUDA_INCLUDE"
ls "$lib"/libcuda.so* >/dev/null 2>&1 || die "no libcuda.so in $lib: run scripts/cuda/install-toolkit.sh (as root) or set CUDA_LIB"

ptx=model/gpu/kernels.ptx
if command -v nvcc >/dev/null; then
	echo "build.sh: nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'): regenerating $ptx"
	nvcc -ptx -arch=compute_80 -O3 -o "$ptx.tmp" model/gpu/kernels.cu || die "nvcc failed on model/gpu/kernels.cu"
	mv "$ptx.tmp" "$ptx"
	git diff --quiet -- "$ptx" 2>/dev/null || echo "build.sh: note: $ptx changed; commit it with kernels.cu"
else
	[ -f "$ptx" ] || die "no nvcc and no committed $ptx"
	echo "build.sh: no nvcc; using the committed $ptx"
fi

mkdir -p "$out"
export CGO_ENABLED=1
export CGO_CFLAGS="${CGO_CFLAGS:-} -I$inc"
export CGO_LDFLAGS="${CGO_LDFLAGS:-} -L$lib"
echo "build.sh: go build -tags fslcuda ./cmd/fsl-worker ./cmd/fsl-coord"
# -s -w: no symbol tables, so the three files device-check.sh needs fit the
# device tool's 64 MiB carry
go build -tags fslcuda -ldflags='-s -w' -o "$out/" ./cmd/fsl-worker ./cmd/fsl-coord || die "go build -tags fslcuda"
echo "build.sh: go test -c -tags fslcuda ./model ./model/gpu"
go test -c -tags fslcuda -ldflags='-s -w' -o "$out/model.test" ./model || die "go test -c ./model"
go test -c -tags fslcuda -ldflags='-s -w' -o "$out/gpu.test" ./model/gpu || die "go test -c ./model/gpu"

command -v ldd >/dev/null || die "ldd not found"
ldd "$out/fsl-worker" | grep -q 'libcuda\.so\.1' || die "$out/fsl-worker does not link libcuda.so.1: $(ldd "$out/fsl-worker")"
echo "build.sh: $out/fsl-worker links: $(ldd "$out/fsl-worker" | grep libcuda)"
ls -l "$out"
echo "build.sh: ok"
