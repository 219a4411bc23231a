package model

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/fsl-project/fsl/params"
)

// pcgStream is the second PCG word; fixed so that Init depends on the
// seed alone.
const pcgStream = 0x66736c2d6d6f646c // "fsl-modl"

// Init returns freshly initialised parameters and batch-norm state, a
// pure function of seed (and the Config): conv weights He-normal
// (std sqrt(2/fanIn), fanIn = Cin·3·3), the Siamese head Glorot-uniform
// (limit sqrt(6/(fanIn+fanOut))), head bias 0, batch-norm gamma 1 and
// beta 0, running mean 0 and variance 1. Tensors are drawn in layout
// order from one math/rand/v2 PCG stream seeded with seed.
func (m *Model) Init(seed uint64) (p, state params.Vector) {
	rng := rand.New(rand.NewPCG(seed, pcgStream))
	p = make(params.Vector, m.layout.Size())
	for _, e := range m.layout.Entries {
		dst := p[e.Offset : e.Offset+e.Size()]
		switch {
		case strings.HasSuffix(e.Name, ".gamma"):
			fill(dst, 1)
		case strings.HasSuffix(e.Name, ".beta"), e.Name == "head.b":
			fill(dst, 0)
		case e.Name == "head.w":
			limit := math.Sqrt(6 / float64(e.Shape[0]+e.Shape[1]))
			for i := range dst {
				dst[i] = float32((2*rng.Float64() - 1) * limit)
			}
		default: // conv<i>.w [F Cin 3 3]
			std := math.Sqrt(2 / float64(e.Shape[1]*e.Shape[2]*e.Shape[3]))
			for i := range dst {
				dst[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
	state = make(params.Vector, m.stateLayout.Size())
	for _, e := range m.stateLayout.Entries {
		if strings.HasSuffix(e.Name, ".var") {
			fill(state[e.Offset:e.Offset+e.Size()], 1)
		}
	}
	return p, state
}

func fill(v []float32, x float32) {
	for i := range v {
		v[i] = x
	}
}
