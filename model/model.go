package model

import (
	"fmt"
	"sync"

	"github.com/fsl-project/fsl/model/cpu"
	"github.com/fsl-project/fsl/params"
	"gorgonia.org/tensor"
)

// maxCachedGraphs bounds the compiled training graphs a Model keeps (one
// per batch shape); a job uses one shape, evaluation another.
const maxCachedGraphs = 4

// Model is a Conv-4 network with one loss. It holds the layouts and a
// cache of compiled graphs, never parameters or statistics. Safe for
// concurrent use; see the package doc. Creating one is cheap: graphs are
// built lazily on first use of each batch shape.
type Model struct {
	cfg         Config
	dt          tensor.Dtype
	k           *cpu.Kernels // the CPU kernels and their threads: graphs and Embed
	be          backend      // where Grad computes
	layout      params.Layout
	stateLayout params.Layout

	mu    sync.Mutex
	train map[shapeKey]*trainGraph
	order []shapeKey // least recently used first
	eval  *evalGraph
}

// New returns a model for cfg (zero fields take the defaults) computing
// as opts say (no options: the CPU, one thread), or an error wrapping
// ErrConfig naming the bad field (or a GPU option with a loss only the CPU
// computes: Matching, params.KindClasses) or ErrNoCUDA when GPU asks for a
// device this binary or machine cannot use.
func New(cfg Config, opts ...Option) (*Model, error) {
	return newModel(cfg, tensor.Float32, opts...)
}

// newModel lets tests build Float64 graphs for gradient checks (which
// always compute on the CPU).
func newModel(cfg Config, dt tensor.Dtype, opts ...Option) (*Model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	o := options{threads: 1, gpu: -1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.gpu < -1 {
		return nil, fmt.Errorf("model: gpu %d, want -1 (CPU) or a GPU index ≥ 0: %w", o.gpu, ErrConfig)
	}
	layout, err := params.NewLayout(paramSpecs(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("model config: parameter layout: %v: %w", err, ErrConfig)
	}
	stateLayout, err := params.NewLayout(stateSpecs(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("model config: state layout: %v: %w", err, ErrConfig)
	}
	useBLAS()
	m := &Model{
		cfg:         cfg,
		dt:          dt,
		k:           cpu.New(o.threads),
		layout:      layout,
		stateLayout: stateLayout,
		train:       make(map[shapeKey]*trainGraph),
	}
	m.be = cpuBackend{m}
	if o.gpu >= 0 && (cfg.Matching || cfg.Loss == params.KindClasses) {
		// the CUDA backend's loss heads (gpu.Triplet, Siamese, Proto) have
		// no Matching Networks or mined-triplet head: refuse rather than
		// compute another loss
		name := "matching"
		if !cfg.Matching {
			name = "mined triplet (" + cfg.Mining.String() + ")"
		}
		return nil, fmt.Errorf("model config: the %s loss computes on the CPU only, not on gpu %d; use --gpu -1: %w", name, o.gpu, ErrConfig)
	}
	if o.gpu >= 0 && dt == tensor.Float32 {
		if m.be, err = gpuBackend(m, o.gpu); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Threads is the most goroutines one Grad or Embed call of m computes on
// (the Threads option).
func (m *Model) Threads() int { return m.k.Threads() }

// DeviceInfo describes the GPU m's Grad computes on (name, memory, compute
// capability, driver's CUDA version), or "" for the CPU.
func (m *Model) DeviceInfo() string { return m.be.info() }

// Config returns the configuration with defaults filled in.
func (m *Model) Config() Config { return m.cfg }

// Layout maps the flat parameter vector to every trainable tensor:
// conv<i>.w [F Cin 3 3], bn<i>.gamma [F], bn<i>.beta [F] for i = 1..4,
// then head.w [D 1], head.b [1] for params.KindPairs. Gradients share it.
func (m *Model) Layout() params.Layout { return m.layout }

// StateLayout maps the batch-norm state vector: bn<i>.mean [F] and
// bn<i>.var [F] for i = 1..4. Result.Stats and the running statistics
// passed to Embed share it. State is not trained by gradients.
func (m *Model) StateLayout() params.Layout { return m.stateLayout }

// NumParams is the length of a parameter vector.
func (m *Model) NumParams() int { return m.layout.Size() }

// EmbedDim is the length D of one embedding: Filters × s × s where s is
// the side left after four 2×2 poolings (64 at 28×28, 2,304 at 105×105).
func (m *Model) EmbedDim() int { return embedDim(m.cfg) }

// trainGraphFor returns the cached graph for key, building it if needed.
func (m *Model) trainGraphFor(key shapeKey) (*trainGraph, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g, ok := m.train[key]; ok {
		m.touch(key)
		return g, nil
	}
	g, err := buildTrainGraph(m, key)
	if err != nil {
		return nil, err
	}
	if len(m.order) >= maxCachedGraphs {
		delete(m.train, m.order[0])
		m.order = m.order[1:]
	}
	m.train[key] = g
	m.order = append(m.order, key)
	return g, nil
}

func (m *Model) touch(key shapeKey) {
	for i, k := range m.order {
		if k == key {
			m.order = append(append(m.order[:i:i], m.order[i+1:]...), key)
			return
		}
	}
}

func (m *Model) evalGraphFor() (*evalGraph, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.eval != nil {
		return m.eval, nil
	}
	g, err := buildEvalGraph(m)
	if err != nil {
		return nil, err
	}
	m.eval = g
	return g, nil
}
