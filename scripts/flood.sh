#!/bin/sh
# Floods a running coordinator (built binaries, embedded NATS) for 25s with
# malformed payloads and invalid results, then with 1.2 GB of chunked
# messages that never complete; reports the coordinator's log size and
# peak RSS and checks the job still ends with bench train's sha256.
# Minutes long: not a CI step.
set -eu
cd "$(dirname "$0")/.."
FSL_FLOOD=1 exec go test -count=1 -timeout 20m -v -run TestFloodLeavesTheCoordinatorBoundedAndExact ./cmd/fsl-coord
