package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
)

// pipelineArgs is jobArgs at pipeline depth 1.
func pipelineArgs(dir string) []string {
	return append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--pipeline", "1")
}

// TestPipelineDepthOneIsExactWhateverTheWorkersDo runs the e2e job at
// pipeline depth 1 (step s computed from the parameters of step s-1, two
// steps in flight) with one worker, with three, with a worker SIGKILLed
// mid-step, and with the coordinator SIGKILLed and restarted from a
// checkpoint (which must carry the earlier parameter version): each must
// end with bench train's parameters at depth 1, and those must differ
// from depth 0's (the rule is applied at all).
func TestPipelineDepthOneIsExactWhateverTheWorkersDo(t *testing.T) {
	build(t)
	coord := func(t *testing.T, dir string, port int, name string) *proc {
		return start(t, name, bins.coord, append(pipelineArgs(dir), "--listen", fmt.Sprintf("127.0.0.1:%d", port))...)
	}
	finish := func(t *testing.T, dir string, c *proc, ws ...*proc) coordinator.Summary {
		c.wait(t, 3*time.Minute)
		for _, w := range ws {
			w.wait(t, 30*time.Second)
		}
		return readSummary(t, filepath.Join(dir, "summary.json"))
	}
	scenarios := []scenario{
		{"one worker", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			return finish(t, dir, c, workers(t, url, 1)...)
		}},
		{"three workers", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			return finish(t, dir, c, workers(t, url, 3)...)
		}},
		{"worker killed mid-step", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			obs := observer(t, url)
			ws := workers(t, url, 3)
			waitStep(t, obs, 6)
			waitHolding(t, obs, "w1-")
			ws[1].kill(t)
			s := finish(t, dir, c, ws[0], ws[2])
			if s.Counters.WorkersLost == 0 {
				t.Fatalf("the killed worker was never declared lost: %+v", s.Counters)
			}
			return s
		}},
		{"coordinator killed after step 12 and restarted", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			obs := observer(t, url)
			ws := workers(t, url, 2)
			waitStep(t, obs, 13)
			c.kill(t)
			s := finish(t, dir, coord(t, dir, port, "restarted coord"), ws...)
			if s.ResumedFrom < 12 {
				t.Fatalf("restarted coordinator resumed from step %d, want the checkpoint at 12 or later", s.ResumedFrom)
			}
			return s
		}},
	}
	hashes := map[string]string{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := sc.run(t, t.TempDir())
			checkExactlyOnce(t, s)
			hashes[sc.name] = s.ParamsSHA256
		})
	}
	dir := t.TempDir()
	ref := benchTrain(t, dir, pipelineArgs(dir))
	depth0 := benchTrain(t, dir, jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")))
	if ref == depth0 {
		t.Fatalf("bench train gives %s at depth 1 and at depth 0: the pipeline changed nothing", ref)
	}
	if len(hashes) != len(scenarios) {
		t.Fatalf("only %d of %d scenarios finished: %v", len(hashes), len(scenarios), hashes)
	}
	for name, h := range hashes {
		if h != ref {
			t.Errorf("%s ended with params %s, bench train at depth 1 with %s", name, h, ref)
		}
	}
	t.Logf("every scenario and bench train at depth 1 ended with params sha256 %s (depth 0: %s)", ref, depth0)
}
