package cli

import (
	"runtime/debug"
	"testing"
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
