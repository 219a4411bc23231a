package model

import (
	"fmt"
	"math"

	"github.com/fsl-project/fsl/params"
)

// Grad computes the loss of batch b under parameters p and its gradient,
// and fills Grads (laid out like p, Layout), Stats (StateLayout: per block
// the per-channel mean and unbiased variance over (images, height, width)
// of the conv output; training-mode batch norm normalised with the biased
// variance), Loss (the batch's mean loss) and Count (the terms Loss
// averages over: triplets given or mined, pairs or query images) of the result; the
// caller addresses the other fields.
// Batch norm runs in training mode (batch statistics); state is checked
// for length and finiteness but not read. Errors wrap ErrParams (p or
// state does not fit the layouts), ErrBatch (b does not fit its Kind or
// the model) or ErrCompute (a bug). The same inputs give bitwise identical
// results whatever the Threads option.
func (m *Model) Grad(p, state params.Vector, b *params.Batch) (params.Result, error) {
	if err := checkVector("parameters", p, m.layout); err != nil {
		return params.Result{}, err
	}
	if err := checkVector("state", state, m.stateLayout); err != nil {
		return params.Result{}, err
	}
	return m.be.grad(p, b)
}

// gradOf is Grad for parameters of either precision (Float64 models are
// for gradient checks).
func gradOf[T float](m *Model, p []T, b *params.Batch) (grads, stats []T, loss float64, key shapeKey, err error) {
	key, err = m.checkBatch(b)
	if err != nil {
		return nil, nil, 0, key, err
	}
	tg, err := m.trainGraphFor(key)
	if err != nil {
		return nil, nil, 0, key, err
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()

	for i, e := range m.layout.Entries {
		load(tg.ps[i], p[e.Offset:e.Offset+e.Size()])
	}
	loadPixels(tg.x, b.Pixels, m.cfg.InputChannels(), b.Size*b.Size)
	if tg.target != nil {
		loadTarget(tg, b)
	}
	if err := tg.run(); err != nil {
		return nil, nil, 0, key, err
	}

	var l [1]float64
	if err := store(l[:], *tg.loss); err != nil {
		return nil, nil, 0, key, fmt.Errorf("read loss: %v: %w", err, ErrCompute)
	}
	if math.IsNaN(l[0]) || math.IsInf(l[0], 0) {
		return nil, nil, 0, key, fmt.Errorf("loss is %v: %w", l[0], ErrCompute)
	}
	grads = make([]T, len(p))
	for i, e := range m.layout.Entries {
		if err := store(grads[e.Offset:e.Offset+e.Size()], *tg.grads[i]); err != nil {
			return nil, nil, 0, key, fmt.Errorf("read gradient of %s: %v: %w", e.Name, err, ErrCompute)
		}
	}
	stats = make([]T, m.stateLayout.Size())
	f := m.cfg.Filters
	for blk := 0; blk < 4; blk++ {
		// StateLayout puts bn<i>.mean then bn<i>.var, as the op's rows
		if err := store(stats[2*blk*f:(2*blk+2)*f], *tg.stats[blk]); err != nil {
			return nil, nil, 0, key, fmt.Errorf("read bn%d statistics: %v: %w", blk+1, err, ErrCompute)
		}
		vr := stats[(2*blk+1)*f : (2*blk+2)*f]
		// unbiased, as running variances conventionally are
		if cnt := key.images * tg.sides[blk] * tg.sides[blk]; cnt > 1 {
			c := T(float64(cnt) / float64(cnt-1))
			for i := range vr {
				vr[i] *= c
			}
		}
	}
	return grads, stats, l[0], key, nil
}

// loadTarget writes the loss targets of b: Same flags for pairs, one-hot
// query labels for episodes.
func loadTarget(tg *trainGraph, b *params.Batch) {
	switch b.Kind {
	case params.KindPairs:
		same := make([]float64, len(b.Same))
		for i, s := range b.Same {
			same[i] = float64(s)
		}
		load(tg.target, same)
	case params.KindEpisode:
		w := tg.key.way
		ns := w * tg.key.shot
		oh := make([]float64, w*w*tg.key.query)
		for i, l := range b.Labels[ns:] {
			oh[i*w+int(l)] = 1
		}
		load(tg.target, oh)
	}
}
