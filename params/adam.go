package params

import (
	"math"
	"runtime"
	"sync"
)

// Adam is the Adam optimizer (Kingma & Ba 2015) with bias correction. Per
// value at 0-based step s, t = s+1, with gradient g after clipping and (L2
// mode) g += wd*p:
//
//	m = b1*m + (1-b1)*g
//	v = b2*v + (1-b2)*g*g
//	p = p - lr*wd*p - lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
//
// where the wd term is present in decoupled mode only (which makes it AdamW).
// The bias correction uses the step argument, so the state is exactly m and
// v. Arithmetic is float64, rounded to float32 when stored.
type Adam struct {
	base
	m, v Vector
}

// NewAdam returns an Adam optimizer for layout l with zero moments. cfg.Name
// must be "adam" or empty.
func NewAdam(cfg OptimizerConfig, l Layout) (*Adam, error) {
	b, err := newBase(cfg, l, OptimizerAdam)
	if err != nil {
		return nil, err
	}
	return &Adam{base: b, m: make(Vector, b.n), v: make(Vector, b.n)}, nil
}

// Step implements Optimizer.
func (a *Adam) Step(p, g Vector, step int) error {
	lr, scale, err := a.prepare(p, g, step)
	if err != nil {
		return err
	}
	c := a.cfg
	b1, b2, eps, wd := c.Beta1, c.Beta2, c.Eps, c.WeightDecay
	c1, c2 := 1-b1, 1-b2
	t := float64(step) + 1
	bc1 := 1 - math.Pow(b1, t)
	bc2 := 1 - math.Pow(b2, t)
	l2 := c.DecayMode == DecayL2
	lrwd := 0.0
	if !l2 {
		lrwd = lr * wd
	}
	m, v := a.m, a.v
	// Every value is updated on its own, so ranges can run side by side:
	// the coordinator's step is the one serial part of a training step.
	parallelRanges(len(p), func(lo, hi int) {
		// Explicit float64(...) around products: no FMA contraction, same
		// bits on every architecture.
		for i := lo; i < hi; i++ {
			pi := float64(p[i])
			gi := float64(float64(g[i]) * scale)
			if l2 {
				gi += float64(wd * pi)
			}
			mi := float64(b1*float64(m[i])) + float64(c1*gi)
			vi := float64(b2*float64(v[i])) + float64(float64(c2*gi)*gi)
			m[i] = float32(mi)
			v[i] = float32(vi)
			upd := float64(lr*(mi/bc1)) / (math.Sqrt(vi/bc2) + eps)
			pi = pi - float64(lrwd*pi) - upd
			p[i] = float32(pi)
		}
	})
	return nil
}

// parallelMin is the smallest vector parallelRanges splits: below it a
// goroutine costs more than it saves.
const parallelMin = 1 << 15

// parallelRanges calls f on contiguous ranges covering [0, n), on up to
// GOMAXPROCS goroutines when n ≥ parallelMin, and returns when all have.
// f must treat every index on its own, so the result does not depend on
// the split.
func parallelRanges(n int, f func(lo, hi int)) {
	k := min(runtime.GOMAXPROCS(0), n/parallelMin)
	if k <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < k; w++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(w*n/k, (w+1)*n/k)
	}
	wg.Wait()
}

// State implements Optimizer: [m, v].
func (a *Adam) State() []Vector {
	return cloneAll([]Vector{a.m, a.v})
}

// SetState implements Optimizer.
func (a *Adam) SetState(s []Vector) error {
	return copyState(OptimizerAdam, []Vector{a.m, a.v}, s, a.n)
}
