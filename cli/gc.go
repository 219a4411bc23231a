package cli

import (
	"os"
	"runtime/debug"
)

// computeGCPercent is the Go collector's target (GOGC) in a process that
// computes training steps: a step's buffers are allocated once per batch
// shape and live as long as the model (about 420 MB for an 84×84×3 batch of
// 60), while each step leaves little garbage. With Go's default of 100 the
// heap may grow by the whole live size again before a collection; at 50 an
// 84×84×3 proto step peaks at about 675 MiB instead of about 860
// (`bench step --size 84 --channels 3`, 40 steps), at no measured cost in
// speed: the live buffers are pointer-free and cheap to mark.
const computeGCPercent = 50

// gcForCompute sets computeGCPercent unless the user set GOGC, and returns
// the percentage in force.
func gcForCompute() int {
	if v, set := os.LookupEnv("GOGC"); set && v != "" {
		p := debug.SetGCPercent(-1) // read it: Go has no getter
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(computeGCPercent)
	return computeGCPercent
}
