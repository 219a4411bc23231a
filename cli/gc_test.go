package cli

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestComputeProcessesCollectAtHalfTheLiveHeapUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // restore the test process's own
	for _, tc := range []struct {
		gogc string
		want int
	}{
		{"", computeGCPercent},
		{"200", 200},
		{"off", -1},
	} {
		t.Run("GOGC="+tc.gogc, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			switch tc.gogc { // what the runtime read at start, had it been set
			case "200":
				debug.SetGCPercent(200)
			case "off":
				debug.SetGCPercent(-1)
			default:
				debug.SetGCPercent(100)
			}
			if got := gcForCompute(); got != tc.want {
				t.Errorf("gcForCompute() = %d, want %d", got, tc.want)
			}
			p := debug.SetGCPercent(100)
			if p != tc.want {
				t.Errorf("GC percent in force %d, want %d", p, tc.want)
			}
		})
	}
}

func TestHeadroomPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name       string
		base       int
		live, room uint64
		want       int
	}{
		{"a small heap grows by the room", 100, 64 * mib, 256 * mib, 400},
		{"rounded up", 100, 60 * mib, 256 * mib, 427},
		{"a heap larger than the room keeps the base", 100, 1024 * mib, 256 * mib, 100},
		{"the base is a floor", 300, 256 * mib, 256 * mib, 300},
		{"before the first collection the live heap reads 0: Go's 4 MiB least goal", 100, 0, 256 * mib, 6400},
		{"below 4 MiB as at 4 MiB", 100, 1 * mib, 256 * mib, 6400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := headroomPercent(tc.base, tc.live, tc.room); got != tc.want {
				t.Errorf("headroomPercent(%d, %d, %d) = %d, want %d", tc.base, tc.live, tc.room, got, tc.want)
			}
		})
	}
}

// TestCoordinatorLeavesItsHeapRoomUnlessGOGCIsSet: a coordinator's small
// heap may grow by coordinatorHeadroom between collections while any
// coordinator of the process runs; Go's default is back when the last has
// ended; a user's GOGC wins.
func TestCoordinatorLeavesItsHeapRoomUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	percent := func() int {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	t.Run("GOGC unset", func(t *testing.T) {
		t.Setenv("GOGC", "")
		debug.SetGCPercent(100)
		runtime.GC()
		first := gcForCoordinator()
		second := gcForCoordinator()
		// This test process's heap is far below the room: the goal is the
		// room above it, give or take the rounding. The tuner sets its
		// percentage from the live heap of the last collection and re-reads
		// it every 100 ms; in a full run of the package, what earlier tests
		// left behind may still be shrinking the heap (it failed so twice
		// on the first reading), so the goal must hold within a few ticks.
		var live, goal uint64
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			runtime.GC() // so the live heap is measured
			s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
			metrics.Read(s)
			live, goal = s[0].Value.Uint64(), s[1].Value.Uint64()
			if goal >= live+coordinatorHeadroom*9/10 || time.Now().After(deadline) {
				break
			}
		}
		if goal < live+coordinatorHeadroom*9/10 {
			t.Errorf("heap goal %d with %d bytes live, want at least %d bytes of room within 2 s", goal, live, coordinatorHeadroom)
		}
		first()
		first() // a second call does nothing
		if p := percent(); p <= 100 {
			t.Errorf("GC percent %d after one of two coordinators ended, want the headroom's", p)
		}
		second()
		if p := percent(); p != 100 {
			t.Errorf("GC percent %d after the last coordinator ended, want 100", p)
		}
	})
	t.Run("GOGC=150", func(t *testing.T) {
		t.Setenv("GOGC", "150")
		debug.SetGCPercent(150) // what the runtime read at start
		release := gcForCoordinator()
		if p := percent(); p != 150 {
			t.Errorf("GC percent %d with GOGC=150, want 150", p)
		}
		release()
		if p := percent(); p != 150 {
			t.Errorf("GC percent %d with GOGC=150 after the coordinator ended, want 150", p)
		}
	})
}
