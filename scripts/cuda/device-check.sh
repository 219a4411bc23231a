#!/usr/bin/env bash
# device-check.sh: the GPU acceptance run for a lent NVIDIA machine, which
# has the driver but no Go toolchain. Build first, on any Debian 12 machine:
#   bash scripts/cuda/build.sh        # fills bin/cuda/
# then run this from the repository root with the three files it needs
# carried over (about 45 MB; all of bin/cuda is over the device tool's
# 64 MiB): carry bin/cuda/model.test, bin/cuda/gpu.test, bin/cuda/fsl-worker
#   bash scripts/cuda/device-check.sh
# It runs, with FSL_REQUIRE_GPU=1 (a missing GPU fails instead of skipping):
#   1. nvidia-smi
#   2. bin/cuda/gpu.test (host loss heads) and bin/cuda/model.test -test.run
#      'GPU': TestGPUGradMatchesCPU (loss, every gradient and the
#      batch statistics within 1e-4 relative of the CPU path, three losses,
#      28×28, 60 images), TestGPUStepIsDeterministic, TestGPURejectsBadBatch,
#      TestGPUOptionErrors
#   3. the benchmarks BenchmarkGPUTripletStep60 and ...600 (images/s), 50
#      steps each, 3 times
#   4. bin/cuda/fsl-worker --gpu 0 for a few seconds: it must print the device
# Synthetic batches only: no Omniglot data needed. Everything is tee'd to
# $OUT/device-check.txt (or ./device-check.txt without $OUT); the last line
# is a one-line summary. Exit status 0 only when every part passed. About
# one to two minutes on an H200.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dir=${OUT:-.}
mkdir -p "$dir"
log="$dir/device-check.txt"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
run() { # run NAME CMD...: tee the output, return the command's status
	local name=$1
	shift
	say "=== $name: $*"
	"$@" 2>&1 | tee -a "$log"
	local rc=${PIPESTATUS[0]}
	say "=== $name: exit $rc"
	return "$rc"
}

for f in bin/cuda/model.test bin/cuda/gpu.test bin/cuda/fsl-worker; do
	[ -x "$f" ] || { say "device-check: FAIL: $f missing; run scripts/cuda/build.sh and carry bin/cuda"; exit 2; }
done
export FSL_REQUIRE_GPU=1
say "device-check: $(date -u +%FT%TZ) on $(hostname)"

run nvidia-smi nvidia-smi
smi=$?
run heads timeout 60 bin/cuda/gpu.test -test.v -test.count 1
heads=$?
run gradcheck timeout 120 bin/cuda/model.test -test.run 'GPU' -test.v -test.count 1
grad=$?
run bench timeout 150 bin/cuda/model.test -test.run '^$' -test.bench 'GPUTripletStep' -test.benchtime 50x -test.count 3
bench=$?
# the worker reconnects forever to a NATS that is not there: stop it after 8 s;
# it must have printed the device first
say "=== worker smoke: bin/cuda/fsl-worker --gpu 0 (stopped after 8 s)"
timeout 8 bin/cuda/fsl-worker --gpu 0 --nats nats://127.0.0.1:1 --job device-check >"$dir/worker.txt" 2>&1
tee -a "$log" <"$dir/worker.txt"
smoke=1
grep -q 'computing on the GPU' "$dir/worker.txt" && smoke=0
say "=== worker smoke: $([ $smoke = 0 ] && echo printed the device || echo did NOT print the device)"

worst=$(grep -o 'worst relative error[^(]*' "$log" | tail -1)
medians=""
for n in 60 600; do
	vals=$(grep -E "^BenchmarkGPUTripletStep$n(-[0-9]+)? " "$log" |
		awk '{ for (i = 2; i <= NF; i++) if ($i == "images/s") print $(i-1) }' | sort -g)
	cnt=$(printf '%s\n' "$vals" | grep -c . || true)
	[ "$cnt" -gt 0 ] && medians="$medians batch $n: median $(printf '%s\n' "$vals" | sed -n "$(((cnt + 1) / 2))p") images/s of $cnt;"
done
status=PASS
[ $((smi + heads + grad + bench + smoke)) = 0 ] || status=FAIL
say "device-check: $status (nvidia-smi $smi, heads $heads, gradcheck $grad, bench $bench, worker smoke $smoke); ${worst:-no gradient figure}; ${medians:-no benchmark figures}"
[ $status = PASS ]
