//go:build fslcuda

package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/fsl-project/fsl/model/gpu"
	"github.com/fsl-project/fsl/params"
)

// grad is Grad on the backend's GPU: the backbone's forward and
// backward pass run there (gpu.Net), the loss head on the host
// (gpu.Triplet, gpu.Siamese, gpu.Proto). The result has Grad's meaning and
// layout.
func (st *cudaBackend) grad(p params.Vector, b *params.Batch) (params.Result, error) {
	m := st.m
	key, err := m.checkBatch(b)
	if err != nil {
		return params.Result{}, err
	}
	entries := map[string]params.Entry{}
	for _, e := range m.layout.Entries {
		entries[e.Name] = e
	}
	of := func(v params.Vector, name string) []float32 {
		e := entries[name]
		return v[e.Offset : e.Offset+e.Size()]
	}
	var w gpu.Weights
	for blk := 0; blk < 4; blk++ {
		w.Conv[blk] = of(p, fmt.Sprintf("conv%d.w", blk+1))
		w.Gamma[blk] = of(p, fmt.Sprintf("bn%d.gamma", blk+1))
		w.Beta[blk] = of(p, fmt.Sprintf("bn%d.beta", blk+1))
	}
	grads := make(params.Vector, len(p))
	var loss float64
	d := embedDim(m.cfg)
	head := func(emb, dEmb []float32) error {
		var err error
		switch m.cfg.Loss {
		case params.KindTriplets:
			loss, err = gpu.Triplet(emb, key.images/3, d, float64(m.cfg.Margin), dEmb)
		case params.KindPairs:
			var db float64
			loss, db, err = gpu.Siamese(emb, key.images/2, d, b.Same, of(p, "head.w"), of(p, "head.b")[0], dEmb,
				of(grads, "head.w"))
			of(grads, "head.b")[0] = float32(db)
		default:
			loss, err = gpu.Proto(emb, key.way, key.shot, key.query, d, b.Labels[key.way*key.shot:], dEmb)
		}
		if err != nil {
			return fmt.Errorf("loss head: %v: %w", err, ErrCompute)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("loss is %v: %w", loss, ErrCompute)
		}
		return nil
	}

	var g gpu.Grads
	st.mu.Lock()
	n, err := st.net(netKey{images: key.images, size: m.cfg.Size, filters: m.cfg.Filters, channels: m.cfg.InputChannels()})
	if err == nil {
		err = n.Step(&w, b.Pixels, head, &g)
	}
	st.mu.Unlock()
	if err != nil {
		if !errors.Is(err, ErrCompute) {
			err = fmt.Errorf("GPU step: %v: %w", err, ErrCompute)
		}
		return params.Result{}, err
	}

	for blk := 0; blk < 4; blk++ {
		copy(of(grads, fmt.Sprintf("conv%d.w", blk+1)), g.Conv[blk])
		copy(of(grads, fmt.Sprintf("bn%d.gamma", blk+1)), g.Gamma[blk])
		copy(of(grads, fmt.Sprintf("bn%d.beta", blk+1)), g.Beta[blk])
	}
	f := m.cfg.Filters
	stats := make(params.Vector, m.stateLayout.Size())
	in, _ := sides(m.cfg.Size)
	for blk := 0; blk < 4; blk++ {
		copy(stats[2*blk*f:(2*blk+1)*f], g.Mean[blk])
		vr := stats[(2*blk+1)*f : (2*blk+2)*f]
		copy(vr, g.Var[blk])
		// unbiased, as the CPU path reports it
		if cnt := key.images * in[blk] * in[blk]; cnt > 1 {
			c := float32(float64(cnt) / float64(cnt-1))
			for i := range vr {
				vr[i] *= c
			}
		}
	}
	return params.Result{Grads: grads, Stats: stats, Loss: loss, Count: m.count(key)}, nil
}
