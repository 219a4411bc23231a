package checkpoints

// The stored bytes of a checkpoint are a format: users resume from stores
// written by older builds. A fixed checkpoint must keep encoding to the same
// bytes.

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

func TestCheckpointEncodingIsStable(t *testing.T) {
	c := &Checkpoint{Step: 7, Created: time.Unix(100, 5), Params: params.Vector{1, 2, 3}, State: params.Vector{4},
		Metrics: map[string]float64{"acc": 0.5, "loss": 1}, Optimizer: OptimizerState{Kind: "adam", Step: 3, Scalars: map[string]float64{"b1": .9},
			Vectors: []NamedVector{{Name: "m", Values: params.Vector{1, 1, 1}}, {Name: "v", Values: params.Vector{2, 2, 2}}}}}
	b, err := encodeCheckpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != "3947323abf9d388a51e8a15242ef77336f88860ea1d96cb322bc985e101bd2aa" {
		t.Fatalf("encoded checkpoint has sha256 %s: the stored format changed (bump valueVersion and keep reading the old one)", got)
	}
}
