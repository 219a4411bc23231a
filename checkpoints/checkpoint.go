package checkpoints

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"time"

	"github.com/fsl-project/fsl/params"
)

// Checkpoint is everything needed to resume a job at a step: a resumed run
// must end with the same parameters as an uninterrupted one.
type Checkpoint struct {
	// Step is the number of optimizer updates applied to Params.
	Step uint64
	// Params is the flat parameter vector, laid out by the job's Layout.
	Params params.Vector
	// State is the model state that is not trained by gradients, such as
	// batch-norm running means and variances. May be empty.
	State params.Vector
	// Optimizer is the optimizer's state (Adam moments, momentum, counters).
	Optimizer OptimizerState
	// Metrics are scalar measurements at Step, e.g. "loss", "val_acc".
	Metrics map[string]float64
	// Created is when the checkpoint was taken; Save sets it to the store's
	// clock when zero. Stored with nanosecond precision, in UTC.
	Created time.Time
}

// OptimizerState is an optimizer's state as named vectors and scalars.
type OptimizerState struct {
	// Kind names the optimizer, e.g. "adam" or "sgd"; free-form.
	Kind string
	// Step is the optimizer's own update counter (Adam's t).
	Step uint64
	// Scalars hold small values such as the current learning rate.
	Scalars map[string]float64
	// Vectors hold per-parameter state such as Adam's "m" and "v"; names are
	// unique and their order is kept.
	Vectors []NamedVector
}

// NamedVector is one named state vector.
type NamedVector struct {
	Name   string
	Values params.Vector
}

// ParamsSHA256 is the SHA-256 of the parameter vector's little-endian
// float32 bytes; equal hashes mean bit-identical parameters.
func (c *Checkpoint) ParamsSHA256() [32]byte { return VectorSHA256(c.Params) }

// VectorSHA256 hashes v's little-endian float32 bytes. It is how runs are
// compared for exactness: two runs agree when their hashes do.
func VectorSHA256(v params.Vector) [32]byte {
	h := sha256.New()
	var buf [4096]byte
	for len(v) > 0 {
		n := min(len(v), len(buf)/4)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		h.Write(buf[:4*n])
		v = v[n:]
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Info describes a stored checkpoint without its vectors.
type Info struct {
	Step    uint64
	Created time.Time
	Metrics map[string]float64
	// ParamCount, StateCount and OptimizerCount are float32 counts:
	// parameters, model state, and all optimizer vectors together.
	ParamCount     int
	StateCount     int
	OptimizerCount int
	// Bytes is the size of the stored value.
	Bytes int
	// ParamsSHA256 is the hash recorded at Save time (see VectorSHA256).
	ParamsSHA256 [32]byte
	// Best is true for the target of the job's best pointer.
	Best bool
	// Err is nil when the value's checksums verified, else an error wrapping
	// ErrCorrupt; the other fields are then zero except Step and Bytes, and
	// also the header fields if only the body failed.
	Err error
}

// ParamsHash returns ParamsSHA256 in hex.
func (i Info) ParamsHash() string { return hex.EncodeToString(i.ParamsSHA256[:]) }
