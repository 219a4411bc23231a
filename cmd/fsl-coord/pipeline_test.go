package main

import (
	"fmt"
	"path/filepath"
	"testing"
)

// pipelineArgs is jobArgs at pipeline depth 1.
func pipelineArgs(dir string) []string {
	return append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--pipeline", "1")
}

// TestPipelineDepthOneIsExactWhateverTheWorkersDo runs the e2e job at
// pipeline depth 1 (step s computed from the parameters of step s-1, two
// steps in flight) through workerScenarios: one worker, three, a worker
// SIGKILLed mid-step and another joining late, and the coordinator
// SIGKILLed and restarted from a checkpoint (which must carry the earlier
// parameter version). Each must end with bench train's parameters at depth
// 1, and those must differ from depth 0's (the rule is applied at all).
func TestPipelineDepthOneIsExactWhateverTheWorkersDo(t *testing.T) {
	build(t)
	coord := func(t *testing.T, dir string, port int, name string) *proc {
		return start(t, name, bins.coord, append(pipelineArgs(dir), "--listen", fmt.Sprintf("127.0.0.1:%d", port))...)
	}
	scenarios := workerScenarios(coord)
	hashes := runScenarios(t, scenarios)
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
