#!/usr/bin/env bash
# emulate.sh: run the CUDA backend's tests on the CPU, without a GPU or the
# CUDA toolkit. model/gpu/kernels.cu is compiled as C++ into a stand-in
# libcuda.so (scripts/cuda/emu), the fslcuda build links against it, and the
# GPU tests run with FSL_REQUIRE_GPU=1: TestGPUGradMatchesCPU (loss,
# gradients and statistics of all three losses against the CPU path),
# TestGPUStepIsDeterministic, TestGPURejectsBadBatch, TestGPUOptionErrors.
# This checks the Go driver code and the kernels' arithmetic; the PTX, its
# JIT and real hardware are checked only by device-check.sh on a GPU.
# Needs g++ (C++17). About two minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
die() { echo "emulate.sh: $*" >&2; exit 1; }
command -v g++ >/dev/null || die "g++ not found (Debian: apt-get install g++)"
emu=$(mktemp -d)
trap 'rm -rf "$emu"' EXIT
cp scripts/cuda/emu/cuda.h "$emu/"
g++ -std=c++17 -O2 -fPIC -shared -I"$emu" -DKERNELS="\"$root/model/gpu/kernels.cu\"" \
	-o "$emu/libcuda.so" scripts/cuda/emu/emu.cc || die "compile the emulator"
ln -s libcuda.so "$emu/libcuda.so.1"
echo "emulate.sh: GPU tests against the CPU emulation"
CGO_ENABLED=1 CGO_CFLAGS="-I$emu" CGO_LDFLAGS="-L$emu" LD_LIBRARY_PATH="$emu" FSL_REQUIRE_GPU=1 \
	go test -tags fslcuda -count=1 -timeout 15m -run 'GPU' ./model ||
	die "GPU tests failed under emulation"
echo "emulate.sh: ok"
