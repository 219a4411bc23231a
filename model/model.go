package model

import (
	"fmt"
	"sync"

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
	layout      params.Layout
	stateLayout params.Layout

	mu    sync.Mutex
	train map[shapeKey]*trainGraph
	order []shapeKey // least recently used first
	eval  *evalGraph
}

// New returns a model for cfg (zero fields take the defaults), or an
// error wrapping ErrConfig naming the bad field.
func New(cfg Config) (*Model, error) {
	return newModel(cfg, tensor.Float32)
}

// newModel lets tests build Float64 graphs for gradient checks.
func newModel(cfg Config, dt tensor.Dtype) (*Model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
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
	return &Model{
		cfg:         cfg,
		dt:          dt,
		layout:      layout,
		stateLayout: stateLayout,
		train:       make(map[shapeKey]*trainGraph),
	}, nil
}

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
