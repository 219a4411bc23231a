package cli

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
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

// gogcSet reports whether the user set GOGC, and the percentage in force.
func gogcSet() (int, bool) {
	if v, set := os.LookupEnv("GOGC"); set && v != "" {
		p := debug.SetGCPercent(-1) // read it: Go has no getter
		debug.SetGCPercent(p)
		return p, true
	}
	return 0, false
}

// gcForCompute sets computeGCPercent unless the user set GOGC, and returns
// the percentage in force.
func gcForCompute() int {
	if p, set := gogcSet(); set {
		return p
	}
	debug.SetGCPercent(computeGCPercent)
	return computeGCPercent
}

// coordinatorHeadroom is the least room a coordinator that computes
// nothing leaves its heap to grow between two collections. Its own live
// heap is small (tens of MB: the step's held results, the NATS buffers),
// but every gradient that arrives allocates three copies of itself (the
// NATS server's, the client's, the decoded vector): 447 KB each for
// Conv-4, over a GB/s at 2,000 shards/s. At Go's default the collector ran
// 45 times a second in `bench scale --workers 64` (8% of the process's
// CPU); with the room to grow by 256 MiB, 9 times (2%), for a peak RSS of
// about 400 MiB instead of 200 (docs/SCALING.md).
const coordinatorHeadroom = 256 << 20

// gcForCoordinator keeps the heap's goal at least coordinatorHeadroom
// above the live heap (and at least Go's default above it) until ctx ends,
// unless the user set GOGC. It re-reads the live heap every 100 ms.
func gcForCoordinator(ctx context.Context) {
	if _, set := gogcSet(); set {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
	set := debug.SetGCPercent(headroomPercent(100, live(), coordinatorHeadroom))
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		p := set
		for {
			select {
			case <-ctx.Done():
				debug.SetGCPercent(100)
				return
			case <-t.C:
			}
			// Only a change of a tenth or more: setting it is not free.
			if q := headroomPercent(100, live(), coordinatorHeadroom); q > p+p/10 || q < p-p/10 {
				debug.SetGCPercent(q)
				p = q
			}
		}
	}()
}

// headroomPercent is the GOGC that lets a heap of live bytes grow by at
// least room bytes, and by at least base percent, before a collection.
func headroomPercent(base int, live, room uint64) int {
	// Go's least goal is 4 MiB times GOGC/100: below a live heap of 4 MiB
	// (before the first collection the runtime reports 0) a percentage
	// computed from the live heap would set that least goal above room.
	live = max(live, 4<<20)
	return max(base, int((100*room+live-1)/live))
}
