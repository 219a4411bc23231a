package params

import (
	"fmt"
	"math"
)

// Optimizer names.
const (
	OptimizerSGD  = "sgd"
	OptimizerAdam = "adam"
)

// Weight decay modes.
const (
	// DecayDecoupled shrinks parameters directly, p -= lr*wd*p, apart from
	// the gradient (AdamW, Loshchilov & Hutter 2019). The default.
	DecayDecoupled = "decoupled"
	// DecayL2 adds wd*p to the gradient before momentum or Adam's moments,
	// as an L2 penalty wd/2*||p||^2 in the loss would.
	DecayL2 = "l2"
)

// Optimizer turns parameters of version s and the aggregated gradient of
// step s into version s+1.
//
// Implementations are deterministic: the same parameters, gradient, step and
// state give the same bits on any machine. Their whole state is State(), so a
// run restored with SetState continues bit for bit as if never stopped. They
// are not safe for concurrent use.
type Optimizer interface {
	// Step updates p in place from gradient g at 0-based step (the step that
	// produces version step+1), after clipping and weight decay, and
	// advances the state. It never writes to g. It fails, leaving p and the
	// state untouched, when a length differs from the layout, step < 0, or
	// g holds a NaN or an infinity (ErrNonFinite).
	Step(p, g Vector, step int) error
	// State returns copies of the state vectors, each of the layout's size:
	// none for SGD without momentum, [velocity] with momentum, [m, v] for
	// Adam.
	State() []Vector
	// SetState replaces the state with copies of s, which must have the
	// count and lengths State returns.
	SetState(s []Vector) error
	// LR is the learning rate the schedule gives at step.
	LR(step int) float64
	// Config is the configuration in use, defaults filled in.
	Config() OptimizerConfig
}

// OptimizerConfig selects and tunes an optimizer. Zero fields take the
// defaults named on each; the zero value is Adam with lr 1e-3, betas
// (0.9, 0.999), eps 1e-8, no weight decay, no clipping, constant rate.
type OptimizerConfig struct {
	// Name is "adam" (default when empty) or "sgd".
	Name string `yaml:"name"`
	// LR is the base learning rate; 0 means 1e-3 for Adam, 1e-2 for SGD.
	LR float64 `yaml:"lr"`
	// Momentum is SGD's momentum factor mu in [0, 1); 0 is plain SGD.
	// Velocity b = mu*b + g, then p -= lr*b (PyTorch's convention, no
	// dampening).
	Momentum float64 `yaml:"momentum"`
	// Nesterov makes SGD step along g + mu*b instead of b; needs Momentum.
	Nesterov bool `yaml:"nesterov"`
	// Beta1 and Beta2 are Adam's moment decay rates in [0, 1); 0 means 0.9
	// and 0.999.
	Beta1 float64 `yaml:"beta1"`
	Beta2 float64 `yaml:"beta2"`
	// Eps is added to Adam's sqrt(v-hat); 0 means 1e-8.
	Eps float64 `yaml:"eps"`
	// WeightDecay is the decay factor wd >= 0; 0 for none. It applies to
	// every parameter, biases and normalisation scales included.
	WeightDecay float64 `yaml:"weight_decay"`
	// DecayMode is "decoupled" (default when empty) or "l2".
	DecayMode string `yaml:"decay_mode"`
	// ClipNorm, when > 0, rescales the gradient by ClipNorm/||g|| whenever
	// its global L2 norm ||g|| exceeds ClipNorm; 0 for no clipping.
	ClipNorm float64 `yaml:"clip_norm"`
	// Schedule scales LR by step.
	Schedule Schedule `yaml:"schedule"`
}

// DefaultOptimizerConfig is Adam with lr 1e-3, betas (0.9, 0.999), eps 1e-8,
// the zero OptimizerConfig with its defaults written out.
func DefaultOptimizerConfig() OptimizerConfig {
	return OptimizerConfig{}.WithDefaults()
}

// WithDefaults returns c with every zero field that has a default set to it.
func (c OptimizerConfig) WithDefaults() OptimizerConfig {
	if c.Name == "" {
		c.Name = OptimizerAdam
	}
	if c.LR == 0 {
		c.LR = 1e-3
		if c.Name == OptimizerSGD {
			c.LR = 1e-2
		}
	}
	if c.Name == OptimizerAdam {
		if c.Beta1 == 0 {
			c.Beta1 = 0.9
		}
		if c.Beta2 == 0 {
			c.Beta2 = 0.999
		}
		if c.Eps == 0 {
			c.Eps = 1e-8
		}
	}
	if c.DecayMode == "" {
		c.DecayMode = DecayDecoupled
	}
	if c.Schedule.Kind == "" {
		c.Schedule.Kind = ScheduleConstant
	}
	if c.Schedule.Kind == ScheduleStep && c.Schedule.Gamma == 0 {
		c.Schedule.Gamma = 0.1
	}
	return c
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate checks c after defaults, returning an error wrapping ErrConfig
// that names the first field at fault.
func (c OptimizerConfig) Validate() error {
	c = c.WithDefaults()
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("params: optimizer %q: %s %v, want %s: %w", c.Name, field, v, want, ErrConfig)
	}
	switch c.Name {
	case OptimizerSGD:
		if !(c.Momentum >= 0 && c.Momentum < 1) {
			return bad("momentum", c.Momentum, "a value in [0, 1)")
		}
		if c.Nesterov && c.Momentum == 0 {
			return bad("nesterov", c.Nesterov, "momentum > 0 with it")
		}
	case OptimizerAdam:
		if !(c.Beta1 >= 0 && c.Beta1 < 1) {
			return bad("beta1", c.Beta1, "a value in [0, 1)")
		}
		if !(c.Beta2 >= 0 && c.Beta2 < 1) {
			return bad("beta2", c.Beta2, "a value in [0, 1)")
		}
		if !(c.Eps > 0) || !finite(c.Eps) {
			return bad("eps", c.Eps, "a finite value > 0")
		}
		if c.Momentum != 0 || c.Nesterov {
			return bad("momentum", c.Momentum, "0 (momentum and nesterov are SGD's; Adam uses beta1)")
		}
	default:
		return fmt.Errorf("params: optimizer name %q unknown, want %q or %q: %w",
			c.Name, OptimizerSGD, OptimizerAdam, ErrConfig)
	}
	if !(c.LR > 0) || !finite(c.LR) {
		return bad("lr", c.LR, "a finite value > 0")
	}
	if !(c.WeightDecay >= 0) || !finite(c.WeightDecay) {
		return bad("weight_decay", c.WeightDecay, "a finite value >= 0")
	}
	if c.DecayMode != DecayDecoupled && c.DecayMode != DecayL2 {
		return bad("decay_mode", fmt.Sprintf("%q", c.DecayMode), fmt.Sprintf("%q or %q", DecayDecoupled, DecayL2))
	}
	if !(c.ClipNorm >= 0) || !finite(c.ClipNorm) {
		return bad("clip_norm", c.ClipNorm, "a finite value >= 0")
	}
	if err := c.Schedule.Validate(); err != nil {
		return fmt.Errorf("params: optimizer %q: %w", c.Name, err)
	}
	return nil
}

// NewOptimizer builds the optimizer cfg names for vectors of layout l, with
// zero state. Unknown names and invalid settings are errors wrapping
// ErrConfig; an invalid layout wraps ErrLayout.
func NewOptimizer(cfg OptimizerConfig, l Layout) (Optimizer, error) {
	switch cfg.WithDefaults().Name {
	case OptimizerSGD:
		return NewSGD(cfg, l)
	case OptimizerAdam:
		return NewAdam(cfg, l)
	}
	return nil, cfg.Validate()
}

// base is what SGD and Adam share: configuration, size and the per-step
// preparation of the gradient.
type base struct {
	cfg OptimizerConfig
	n   int
}

func newBase(cfg OptimizerConfig, l Layout, name string) (base, error) {
	cfg = cfg.WithDefaults()
	if cfg.Name != name {
		return base{}, fmt.Errorf("params: new %s optimizer: config names %q: %w", name, cfg.Name, ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return base{}, err
	}
	if err := l.Validate(); err != nil {
		return base{}, fmt.Errorf("params: new %s optimizer: %w", name, err)
	}
	return base{cfg: cfg, n: l.Size()}, nil
}

func (b *base) Config() OptimizerConfig { return b.cfg }

func (b *base) LR(step int) float64 { return b.cfg.Schedule.LR(b.cfg.LR, step) }

// prepare checks the arguments of Step and returns the learning rate and the
// factor the gradient is to be multiplied by (1 without clipping).
func (b *base) prepare(p, g Vector, step int) (lr, scale float64, err error) {
	if len(p) != b.n || len(g) != b.n {
		return 0, 0, fmt.Errorf("params: %s step %d: params length %d, gradient length %d, want %d: %w",
			b.cfg.Name, step, len(p), len(g), b.n, ErrLength)
	}
	if step < 0 {
		return 0, 0, fmt.Errorf("params: %s step %d: want step >= 0: %w", b.cfg.Name, step, ErrConfig)
	}
	norm := globalNorm(g)
	if !finite(norm) {
		return 0, 0, fmt.Errorf("params: %s step %d: gradient: %w", b.cfg.Name, step, g.CheckFinite())
	}
	scale = clipScale(norm, b.cfg.ClipNorm)
	return b.LR(step), scale, nil
}

// clipScale is the factor that brings a gradient of the given global norm
// down to maxNorm, or 1 when it is within it or clipping is off.
func clipScale(norm, maxNorm float64) float64 {
	if maxNorm > 0 && norm > maxNorm {
		return maxNorm / norm
	}
	return 1
}

// copyState validates s against the expected count and length and copies it
// into dst.
func copyState(name string, dst []Vector, s []Vector, n int) error {
	if len(s) != len(dst) {
		return fmt.Errorf("params: %s set state: %d vectors, want %d: %w", name, len(s), len(dst), ErrLength)
	}
	for i, v := range s {
		if len(v) != n {
			return fmt.Errorf("params: %s set state: vector %d has length %d, want %d: %w", name, i, len(v), n, ErrLength)
		}
	}
	for i, v := range s {
		copy(dst[i], v)
	}
	return nil
}

func cloneAll(vs []Vector) []Vector {
	out := make([]Vector, len(vs))
	for i, v := range vs {
		out[i] = v.Clone()
	}
	return out
}
