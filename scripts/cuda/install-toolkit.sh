#!/usr/bin/env bash
# install-toolkit.sh: installs what scripts/cuda/build.sh needs on a Debian 12 (bookworm)
# machine without a GPU: Debian's CUDA 11.8 toolkit (nvcc, cuda.h) and libcuda's driver-API
# library to link against. Adds the contrib and non-free components to the apt sources first.
# Run as root. Idempotent: a second run changes nothing.
set -euo pipefail

die() { echo "install-toolkit.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it edits apt sources and installs packages)"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 (bookworm) only"

src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ]; then
	# deb822 format: add contrib and non-free to every "Components:" line that lacks them.
	if grep -qE '^Components:' "$src"; then
		sed -i -E '/^Components:/{/ contrib( |$)/!s/$/ contrib/;/ non-free( |$)/!s/$/ non-free/}' "$src"
	else
		die "$src has no Components: line; add contrib and non-free by hand"
	fi
elif [ -f /etc/apt/sources.list ]; then
	sed -i -E '/^deb /{/ contrib( |$)/!s/$/ contrib/;/ non-free( |$)/!s/$/ non-free/}' /etc/apt/sources.list
else
	die "no apt sources found (looked for $src and /etc/apt/sources.list)"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q || die "apt-get update failed"
# nvidia-cuda-toolkit: nvcc 11.8; nvidia-cuda-dev: cuda.h and the other headers;
# libcuda1: libcuda.so.1, the driver-API library the cuda-tagged worker links against
# (on a GPU machine the real driver's libcuda.so.1 is used at run time instead).
# libnvidia-ml1 isn't needed. --no-install-recommends keeps the download smaller.
apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit nvidia-cuda-dev libcuda1 \
	|| die "apt-get install failed (are contrib and non-free reachable?)"

command -v nvcc >/dev/null || die "nvcc missing after install"
nvcc --version | tail -n 2
[ -f /usr/include/cuda.h ] || die "/usr/include/cuda.h missing after install"
ls /usr/lib/x86_64-linux-gnu/libcuda.so* >/dev/null 2>&1 || die "libcuda.so missing after install"
echo "install-toolkit.sh: ok"
