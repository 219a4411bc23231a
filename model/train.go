package model

import (
	"fmt"
	"sync"

	"github.com/fsl-project/fsl/params"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// trainGraph is the compiled training graph of one batch shape: forward
// with batch statistics, the loss, and symbolic gradients of the loss with
// respect to every parameter tensor. Inputs are tensors bound once and
// overwritten before each run; outputs are copied out through Read nodes
// (a register may be reused later in the same run, a Read copy may not).
type trainGraph struct {
	mu     sync.Mutex // one run at a time
	vm     G.VM
	key    shapeKey
	x      *tensor.Dense   // [C N S S] pixels / 255 (channel-major layout)
	ps     []*tensor.Dense // one per layout entry
	target *tensor.Dense   // pairs: Same [P 1]; episodes: one-hot [W·Q W]; nil for triplets and classes

	loss  *G.Value
	grads []*G.Value // layout order
	stats []*G.Value // per block, [2 F]: mean, biased variance
	sides [4]int     // input side of each block = conv output side
}

// buildTrainGraph builds and compiles the graph for batches of shape key.
func buildTrainGraph(m *Model, key shapeKey) (*trainGraph, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	tg := &trainGraph{key: key}
	err := protect(fmt.Sprintf("build training graph for %d images", key.images), func() error {
		g := G.NewGraph()
		cfg, dt, n := m.cfg, m.dt, key.images

		var xn *G.Node
		xn, tg.x = input(g, dt, "x", cfg.InputChannels(), n, cfg.Size, cfg.Size)
		nodes := make([]*G.Node, len(m.layout.Entries))
		byName := map[string]*G.Node{}
		for i, e := range m.layout.Entries {
			shape := e.Shape
			if e.Name == "head.b" {
				shape = []int{1, 1} // broadcast over pairs as [P 1] + [1 1]
			}
			var t *tensor.Dense
			nodes[i], t = input(g, dt, e.Name, shape...)
			tg.ps = append(tg.ps, t)
			byName[e.Name] = nodes[i]
		}

		h := xn
		tg.sides, _ = sides(cfg.Size)
		for b := 1; b <= 4; b++ {
			c := conv(m.k, h, byName[fmt.Sprintf("conv%d.w", b)], b == 1)
			st := bnStats(m.k, c)
			sv := new(G.Value)
			G.Read(st, sv)
			tg.stats = append(tg.stats, sv)
			h = bnReluPool(m.k, c, st, byName[fmt.Sprintf("bn%d.gamma", b)], byName[fmt.Sprintf("bn%d.beta", b)])
		}
		d := embedDim(cfg)
		_, last := sides(cfg.Size)
		emb := embedRows(h, n, cfg.Filters, last*last)

		var loss *G.Node
		switch cfg.Loss {
		case params.KindTriplets:
			loss = tripletLoss(emb, n/3, d, float64(cfg.Margin), dt)
		case params.KindPairs:
			var sn *G.Node
			sn, tg.target = input(g, dt, "same", n/2, 1)
			loss = siameseLoss(emb, sn, byName["head.w"], byName["head.b"], n/2, d)
		case params.KindClasses:
			loss = minedTripletLoss(emb, n, key.shot, d, cfg.Mining, float64(cfg.Margin), dt)
		default:
			var oh *G.Node
			oh, tg.target = input(g, dt, "onehot", key.way*key.query, key.way)
			if cfg.Matching {
				loss = matchingLoss(emb, oh, key.way, key.shot, key.query, d, cfg.MatchingScale(), dt)
			} else {
				loss = protoLoss(emb, oh, key.way, key.shot, key.query, d)
			}
		}
		grads, err := G.Grad(loss, nodes...)
		if err != nil {
			return err
		}
		tg.loss = new(G.Value)
		G.Read(loss, tg.loss)
		for _, gn := range grads {
			v := new(G.Value)
			G.Read(gn, v)
			tg.grads = append(tg.grads, v)
		}
		tg.vm = G.NewTapeMachine(g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tg, nil
}

// run executes the graph once on the loaded inputs.
func (tg *trainGraph) run() error {
	return protect(fmt.Sprintf("run training graph for %d images", tg.key.images), func() error {
		tg.vm.Reset()
		return tg.vm.RunAll()
	})
}
