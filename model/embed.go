package model

import (
	"fmt"
	"math"
	"sync"

	"github.com/fsl-project/fsl/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// evalChunk is the most images the evaluation graph embeds per run (fewer
// when 64 would exceed maxActivations); Embed pads the last chunk with
// blank images (evaluation batch norm does not mix images, so padding
// changes nothing).
const evalChunk = 64

// chunkImages is the evaluation graph's batch for m.
func (m *Model) chunkImages() int {
	per := m.cfg.Filters * m.cfg.Size * m.cfg.Size
	return max(1, min(evalChunk, maxActivations/per))
}

// evalGraph is the forward pass with batch norm using running
// statistics, folded into a per-channel affine map: relu(conv(x, w)·a +
// (β − μ·a)) with a = γ/√(σ²+eps), then max-pooling.
type evalGraph struct {
	mu     sync.Mutex
	vm     G.VM
	x      *tensor.Dense
	ws     []*tensor.Dense // conv weights per block
	scales []*tensor.Dense // per-channel scale a per block
	shifts []*tensor.Dense // per-channel shift per block
	emb    *G.Value        // [chunk D]
	chunk  int
}

func buildEvalGraph(m *Model) (*evalGraph, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	eg := &evalGraph{}
	err := protect("build evaluation graph", func() error {
		g := G.NewGraph()
		cfg, dt := m.cfg, m.dt
		var h *G.Node
		eg.chunk = m.chunkImages()
		h, eg.x = input(g, dt, "x", cfg.InputChannels(), eg.chunk, cfg.Size, cfg.Size)
		cin := cfg.InputChannels()
		for b := 1; b <= 4; b++ {
			wn, wt := input(g, dt, fmt.Sprintf("conv%d.w", b), cfg.Filters, cin, 3, 3)
			an, at := input(g, dt, fmt.Sprintf("bn%d.scale", b), cfg.Filters)
			sn, st := input(g, dt, fmt.Sprintf("bn%d.shift", b), cfg.Filters)
			eg.ws, eg.scales, eg.shifts = append(eg.ws, wt), append(eg.scales, at), append(eg.shifts, st)
			h = affineReluPool(m.k, conv(m.k, h, wn, b == 1), an, sn)
			cin = cfg.Filters
		}
		_, last := sides(cfg.Size)
		emb := embedRows(h, eg.chunk, cfg.Filters, last*last)
		eg.emb = new(G.Value)
		G.Read(emb, eg.emb)
		eg.vm = G.NewTapeMachine(g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return eg, nil
}

// Embed returns the embeddings of n images of Config.InputChannels planes
// of Size×Size uint8 pixels (params.Batch's layout: planar images, each
// plane row-major, one image after another), n×EmbedDim values, row i for
// image i.
// Batch norm runs in evaluation mode with the running statistics of
// state, so an image's embedding does not depend on the other images.
// Errors wrap ErrParams (p or state does not fit, or a running variance
// is negative) or ErrBatch (n or len(pixels) wrong).
func (m *Model) Embed(p, state params.Vector, pixels []uint8, n int) ([]float32, error) {
	if err := checkVector("parameters", p, m.layout); err != nil {
		return nil, err
	}
	if err := checkVector("state", state, m.stateLayout); err != nil {
		return nil, err
	}
	return embedOf(m, p, state, pixels, n)
}

// embedOf is Embed after the vector checks, for either precision.
func embedOf[T float](m *Model, p, state []T, pixels []uint8, n int) ([]T, error) {
	c, hw := m.cfg.InputChannels(), m.cfg.Size*m.cfg.Size
	px := c * hw
	if n < 1 || n > MaxImages {
		return nil, fmt.Errorf("embed: %d images, want 1..%d: %w", n, MaxImages, ErrBatch)
	}
	if len(pixels) != n*px {
		return nil, fmt.Errorf("embed: %d pixel bytes for %d images of %d×%d×%d, want %d: %w",
			len(pixels), n, c, m.cfg.Size, m.cfg.Size, n*px, ErrBatch)
	}
	ws, scales, shifts, err := m.fold(toF64(p), toF64(state))
	if err != nil {
		return nil, err
	}
	eg, err := m.evalGraphFor()
	if err != nil {
		return nil, err
	}
	eg.mu.Lock()
	defer eg.mu.Unlock()
	for b := range ws {
		load(eg.ws[b], ws[b])
		load(eg.scales[b], scales[b])
		load(eg.shifts[b], shifts[b])
	}
	d := m.EmbedDim()
	out := make([]T, n*d)
	chunk := make([]uint8, eg.chunk*px)
	tmp := make([]T, eg.chunk*d)
	for start := 0; start < n; start += eg.chunk {
		k := min(eg.chunk, n-start)
		clear(chunk)
		copy(chunk, pixels[start*px:(start+k)*px])
		loadPixels(eg.x, chunk, c, hw)
		err := protect(fmt.Sprintf("run evaluation graph on images %d..%d", start, start+k-1), func() error {
			eg.vm.Reset()
			return eg.vm.RunAll()
		})
		if err != nil {
			return nil, err
		}
		if err := store(tmp, *eg.emb); err != nil {
			return nil, fmt.Errorf("read embeddings: %v: %w", err, ErrCompute)
		}
		copy(out[start*d:(start+k)*d], tmp[:k*d])
	}
	return out, nil
}

// fold returns, per block, the conv weights, the scale a = γ/√(σ²+eps)
// and the shift β − μ·a, in float64.
func (m *Model) fold(p, state []float64) (ws, scales, shifts [][]float64, err error) {
	f := m.cfg.Filters
	for b := 0; b < 4; b++ {
		we, ge, be := m.layout.Entries[3*b], m.layout.Entries[3*b+1], m.layout.Entries[3*b+2]
		gamma := p[ge.Offset : ge.Offset+f]
		beta := p[be.Offset : be.Offset+f]
		mean := state[2*b*f : (2*b+1)*f]
		vr := state[(2*b+1)*f : (2*b+2)*f]
		scale, shift := make([]float64, f), make([]float64, f)
		for c := 0; c < f; c++ {
			if vr[c] < 0 {
				return nil, nil, nil, fmt.Errorf("state: bn%d.var[%d] is %v, want ≥ 0: %w", b+1, c, vr[c], ErrParams)
			}
			scale[c] = gamma[c] / math.Sqrt(vr[c]+bnEps)
			shift[c] = beta[c] - mean[c]*scale[c]
		}
		ws = append(ws, p[we.Offset:we.Offset+we.Size()])
		scales, shifts = append(scales, scale), append(shifts, shift)
	}
	return ws, scales, shifts, nil
}

func toF64[T float](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// PairScore is the Siamese head's probability that embeddings e1 and e2
// (from Embed) show the same class: sigmoid(|e1−e2|·head.w + head.b).
// It needs a params.KindPairs model; errors wrap ErrParams or ErrBatch.
func (m *Model) PairScore(p params.Vector, e1, e2 []float32) (float32, error) {
	if m.cfg.Loss != params.KindPairs {
		return 0, fmt.Errorf("pair score: model trains %s and has no Siamese head: %w", m.cfg.Loss, ErrParams)
	}
	if want := m.layout.Size(); len(p) != want {
		return 0, fmt.Errorf("pair score: parameters: length %d, want %d: %w", len(p), want, ErrParams)
	}
	d := m.EmbedDim()
	if len(e1) != d || len(e2) != d {
		return 0, fmt.Errorf("pair score: embeddings of length %d and %d, want %d: %w", len(e1), len(e2), d, ErrBatch)
	}
	hw := m.layout.Entries[len(m.layout.Entries)-2]
	hb := m.layout.Entries[len(m.layout.Entries)-1]
	z := float64(p[hb.Offset])
	for i := range e1 {
		z += math.Abs(float64(e1[i])-float64(e2[i])) * float64(p[hw.Offset+i])
	}
	return float32(sigmoid(z)), nil
}

// sigmoid without overflow for large |z|.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
