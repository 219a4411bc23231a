package coordinator

import (
	"context"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
)

// TestPipelineCheckpointCarriesTheEarlierVersions checks that a pipelined
// trainer's checkpoint holds the parameter versions its next steps are
// computed from, that a trainer of the same depth restores them, and that
// one of another depth refuses the checkpoint, naming the pipeline.
func TestPipelineCheckpointCarriesTheEarlierVersions(t *testing.T) {
	spec := DefaultSpec()
	spec.Steps, spec.Pipeline = 3, 1
	spec = spec.WithDefaults()
	ds, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	var at2 string
	tr, err := RunLocal(context.Background(), spec, ds, m.Grad, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Checkpoint(nil)
	var names []string
	for _, nv := range c.Optimizer.Vectors {
		names = append(names, nv.Name)
		if nv.Name == lagName(2) {
			at2 = nv.Values.SHA256()
		}
	}
	if at2 == "" || at2 == tr.Params.SHA256() {
		t.Fatalf("checkpoint of step 3 at pipeline 1 holds vectors %v: want the parameters of version 2 (%s), not version 3's", names, at2)
	}
	same, err := NewTrainer(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := same.Restore(c); err != nil {
		t.Fatal(err)
	}
	if p, ok := same.ParamsAt(2); !ok || p.SHA256() != at2 {
		t.Fatalf("restored trainer: version 2 held %v, sha %s, want %s", ok, p.SHA256(), at2)
	}
	if p, v, err := same.ParamsFor(3); err != nil || v != 2 || p.SHA256() != at2 {
		t.Fatalf("ParamsFor(3) = version %d, %v: want version 2", v, err)
	}
	for _, depth := range []int{0, 2} {
		other := spec
		other.Pipeline = depth
		o, err := NewTrainer(other)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Restore(c); err == nil || !strings.Contains(err.Error(), "pipeline") {
			t.Errorf("pipeline %d restoring a pipeline-1 checkpoint: %v, want an error naming the pipeline", depth, err)
		}
	}
	if _, _, err := same.ParamsFor(5); err == nil {
		t.Errorf("ParamsFor(5) at version 3: no error")
	}
}

// TestSpecPipelineDepthIsValidated: the spec refuses a depth outside
// 0..MaxPipeline (the machine's config too: machine's
// TestPipelineDepthIsValidated).
func TestSpecPipelineDepthIsValidated(t *testing.T) {
	for _, k := range []int{-1, machine.MaxPipeline + 1} {
		spec := DefaultSpec()
		spec.Pipeline = k
		if err := spec.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "pipeline") {
			t.Errorf("spec with pipeline %d: %v, want an error naming pipeline", k, err)
		}
	}
}
