package cli

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
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

// coordinatorGC is the one tuner of the process's collector while any
// coordinator runs in it (tests run several): the GC percentage is global.
var coordinatorGC struct {
	sync.Mutex
	users int
	stop  chan struct{}
	done  chan struct{}
}

// gcForCoordinator keeps the heap's goal at least coordinatorHeadroom
// above the live heap (and at least Go's default above it), re-reading the
// live heap every 100 ms, unless the user set GOGC. The returned function
// ends it; when the last coordinator of the process has, Go's default is
// back.
func gcForCoordinator() (release func()) {
	if _, set := gogcSet(); set {
		return func() {}
	}
	t := &coordinatorGC
	t.Lock()
	defer t.Unlock()
	t.users++
	if t.users == 1 {
		t.stop, t.done = make(chan struct{}), make(chan struct{})
		p := headroomPercent(100, liveHeap(), coordinatorHeadroom)
		debug.SetGCPercent(p)
		go tuneHeadroom(p, t.stop, t.done)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			t.Lock()
			defer t.Unlock()
			if t.users--; t.users == 0 {
				close(t.stop)
				<-t.done
				debug.SetGCPercent(100)
			}
		})
	}
}

// liveHeap is the heap the last collection left, 0 before the first.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// tuneHeadroom re-reads the live heap every 100 ms and sets the percentage
// when it moved by a tenth from p (setting it is not free), until stop
// closes.
func tuneHeadroom(p int, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if q := headroomPercent(100, liveHeap(), coordinatorHeadroom); q > p+p/10 || q < p-p/10 {
			debug.SetGCPercent(q)
			p = q
		}
	}
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
