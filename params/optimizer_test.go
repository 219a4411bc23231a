package params

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// quadratic is the loss 0.5 * sum_i a_i (p_i - c_i)^2 with gradient
// a_i (p_i - c_i).
type quadratic struct{ a, c []float64 }

func newQuadratic(n int, seed uint64) quadratic {
	r := rand.New(rand.NewPCG(seed, 1))
	q := quadratic{a: make([]float64, n), c: make([]float64, n)}
	for i := range q.a {
		q.a[i] = 0.5 + 3*r.Float64()
		q.c[i] = r.Float64() - 0.5
	}
	return q
}

func (q quadratic) grad64(p []float64) []float64 {
	g := make([]float64, len(p))
	for i := range p {
		g[i] = q.a[i] * (p[i] - q.c[i])
	}
	return g
}

func (q quadratic) grad32(p Vector) Vector {
	g := make(Vector, len(p))
	for i := range p {
		g[i] = float32(q.a[i] * (float64(p[i]) - q.c[i]))
	}
	return g
}

func (q quadratic) loss(p Vector) float64 {
	var s float64
	for i := range p {
		d := float64(p[i]) - q.c[i]
		s += 0.5 * q.a[i] * d * d
	}
	return s
}

// refOptimizer is a plain float64 implementation of the documented update
// rules, written apart from the package code, with float64 state.
type refOptimizer struct {
	cfg       OptimizerConfig // defaults filled
	buf, m, v []float64
}

func (r *refOptimizer) step(p, g []float64, s int) {
	c := r.cfg
	lr := c.Schedule.LR(c.LR, s)
	n := len(p)
	if r.buf == nil {
		r.buf, r.m, r.v = make([]float64, n), make([]float64, n), make([]float64, n)
	}
	// Clip a copy of the gradient.
	var sq float64
	for _, x := range g {
		sq += x * x
	}
	gg := append([]float64(nil), g...)
	if norm := math.Sqrt(sq); c.ClipNorm > 0 && norm > c.ClipNorm {
		for i := range gg {
			gg[i] *= c.ClipNorm / norm
		}
	}
	for i := range p {
		if c.DecayMode == DecayL2 {
			gg[i] += c.WeightDecay * p[i]
		}
		var d float64
		switch c.Name {
		case OptimizerSGD:
			d = gg[i]
			if c.Momentum > 0 {
				r.buf[i] = c.Momentum*r.buf[i] + gg[i]
				d = r.buf[i]
				if c.Nesterov {
					d = gg[i] + c.Momentum*r.buf[i]
				}
			}
			d *= lr
		case OptimizerAdam:
			t := float64(s + 1)
			r.m[i] = c.Beta1*r.m[i] + (1-c.Beta1)*gg[i]
			r.v[i] = c.Beta2*r.v[i] + (1-c.Beta2)*gg[i]*gg[i]
			mhat := r.m[i] / (1 - math.Pow(c.Beta1, t))
			vhat := r.v[i] / (1 - math.Pow(c.Beta2, t))
			d = lr * mhat / (math.Sqrt(vhat) + c.Eps)
		}
		if c.DecayMode == DecayDecoupled {
			d += lr * c.WeightDecay * p[i]
		}
		p[i] -= d
	}
}

func smallLayout(t testing.TB, n int) Layout {
	t.Helper()
	l, err := NewLayout(Spec{"w", []int{n}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOptimizersMatchFloat64Reference runs each configuration for 40 steps
// on a small quadratic and compares every parameter with the float64
// reference. Parameters stay within [-1, 1], so float32 storage costs at
// most 2^-25 per step; 1e-6 absolute bounds 40 steps of it with room.
func TestOptimizersMatchFloat64Reference(t *testing.T) {
	const n, steps, tol = 24, 40, 1e-6
	cosine := Schedule{Kind: ScheduleCosine, TotalSteps: steps, WarmupSteps: 5, MinLR: 1e-3}
	tests := []struct {
		name string
		cfg  OptimizerConfig
	}{
		{"sgd plain", OptimizerConfig{Name: "sgd", LR: 0.1}},
		{"sgd momentum", OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9}},
		{"sgd nesterov", OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, Nesterov: true}},
		{"sgd momentum l2", OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 0.1, DecayMode: DecayL2}},
		{"sgd momentum decoupled", OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 0.1}},
		{"sgd momentum clipped", OptimizerConfig{Name: "sgd", LR: 0.05, Momentum: 0.9, ClipNorm: 0.5}},
		{"sgd step schedule", OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.5,
			Schedule: Schedule{Kind: ScheduleStep, StepSize: 10, Gamma: 0.5}}},
		{"adam", OptimizerConfig{Name: "adam", LR: 0.02}},
		{"adam betas", OptimizerConfig{Name: "adam", LR: 0.02, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}},
		{"adam l2", OptimizerConfig{Name: "adam", LR: 0.02, WeightDecay: 0.05, DecayMode: DecayL2}},
		{"adamw", OptimizerConfig{Name: "adam", LR: 0.02, WeightDecay: 0.05}},
		{"adam clipped", OptimizerConfig{Name: "adam", LR: 0.02, ClipNorm: 0.3}},
		{"adam cosine warmup", OptimizerConfig{Name: "adam", LR: 0.05, Schedule: cosine}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQuadratic(n, uint64(i))
			l := smallLayout(t, n)
			opt, err := NewOptimizer(tt.cfg, l)
			if err != nil {
				t.Fatal(err)
			}
			ref := &refOptimizer{cfg: tt.cfg.WithDefaults()}
			r := rand.New(rand.NewPCG(uint64(i), 2))
			p := make(Vector, n)
			p64 := make([]float64, n)
			for j := range p {
				p[j] = float32(r.Float64() - 0.5)
				p64[j] = float64(p[j])
			}
			startLoss := q.loss(p)
			worst := 0.0
			for s := 0; s < steps; s++ {
				if err := opt.Step(p, q.grad32(p), s); err != nil {
					t.Fatal(err)
				}
				ref.step(p64, q.grad64(p64), s)
				for j := range p {
					worst = max(worst, math.Abs(float64(p[j])-p64[j]))
				}
			}
			if worst > tol {
				t.Errorf("largest difference from the float64 reference %.3g, want <= %g", worst, tol)
			}
			if end := q.loss(p); !(end < startLoss) {
				t.Errorf("loss went from %g to %g", startLoss, end)
			}
			t.Logf("max |p - ref| = %.3g over %d steps", worst, steps)
		})
	}
}

func TestClippingMatchesHandComputedValues(t *testing.T) {
	tests := []struct {
		name string
		clip float64
		g    Vector
		want Vector
	}{
		{"norm above the bound is scaled to it", 1, Vector{3, 4}, Vector{-0.6, -0.8}},
		{"norm within the bound is untouched", 1, Vector{0.3, 0.4}, Vector{-0.3, -0.4}},
		{"norm equal to the bound is untouched", 5, Vector{3, 4}, Vector{-3, -4}},
		{"no clipping", 0, Vector{3, 4}, Vector{-3, -4}},
	}
	for _, tt := range tests {
		opt, err := NewSGD(OptimizerConfig{LR: 1, ClipNorm: tt.clip}, smallLayout(t, 2))
		if err != nil {
			t.Fatal(err)
		}
		p := Vector{0, 0}
		g := tt.g.Clone()
		if err := opt.Step(p, g, 0); err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(p[0]-tt.want[0])) > 1e-7 || math.Abs(float64(p[1]-tt.want[1])) > 1e-7 {
			t.Errorf("%s: p = %v, want %v", tt.name, p, tt.want)
		}
		if !g.Equal(tt.g) {
			t.Errorf("%s: Step changed the gradient to %v", tt.name, g)
		}
	}
}

func TestWeightDecayModesMatchHandComputedValues(t *testing.T) {
	// p = 1, zero gradient after the first step's, lr 0.1, wd 0.5,
	// momentum 0.9. L2: g = wd*p feeds the velocity; decoupled: p shrinks
	// by lr*wd*p apart from it.
	tests := []struct {
		name  string
		cfg   OptimizerConfig
		grads []float32
		want  []float32
	}{
		{"sgd decoupled", OptimizerConfig{Name: "sgd", LR: 0.1, WeightDecay: 0.5, Momentum: 0.9},
			[]float32{0, 0}, []float32{0.95, 0.9025}},
		{"sgd l2", OptimizerConfig{Name: "sgd", LR: 0.1, WeightDecay: 0.5, Momentum: 0.9, DecayMode: DecayL2},
			// b1 = 0.5, p1 = 0.95; g2 = 0.475, b2 = 0.925, p2 = 0.8575
			[]float32{0, 0}, []float32{0.95, 0.8575}},
		// First Adam step moves by lr*g/(|g|+eps): p = 1 - 0.1*0.1*1 - 0.1.
		{"adamw first step", OptimizerConfig{Name: "adam", LR: 0.1, WeightDecay: 0.1},
			[]float32{2}, []float32{0.89}},
		// L2: g = 2 + 0.1*1 = 2.1, still a step of lr: p = 0.9.
		{"adam l2 first step", OptimizerConfig{Name: "adam", LR: 0.1, WeightDecay: 0.1, DecayMode: DecayL2},
			[]float32{2}, []float32{0.9}},
	}
	for _, tt := range tests {
		opt, err := NewOptimizer(tt.cfg, smallLayout(t, 1))
		if err != nil {
			t.Fatal(err)
		}
		p := Vector{1}
		for s, g := range tt.grads {
			if err := opt.Step(p, Vector{g}, s); err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(p[0]-tt.want[s])) > 1e-6 {
				t.Errorf("%s step %d: p = %.8g, want %.8g", tt.name, s, p[0], tt.want[s])
			}
		}
	}
}

func TestStepNeverWritesTheGradient(t *testing.T) {
	for _, cfg := range []OptimizerConfig{
		{Name: "sgd", Momentum: 0.9, ClipNorm: 0.1, WeightDecay: 0.1, DecayMode: DecayL2},
		{Name: "adam", ClipNorm: 0.1, WeightDecay: 0.1, DecayMode: DecayL2},
	} {
		opt, err := NewOptimizer(cfg, smallLayout(t, 3))
		if err != nil {
			t.Fatal(err)
		}
		g := Vector{3, -4, 12}
		want := g.Clone()
		if err := opt.Step(Vector{1, 2, 3}, g, 0); err != nil {
			t.Fatal(err)
		}
		if !g.Equal(want) {
			t.Errorf("%s: gradient became %v, want %v", cfg.Name, g, want)
		}
	}
}

func TestStepRejectsBadInputsLeavingStateAlone(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name string
		p, g Vector
		step int
		want error
	}{
		{"short params", Vector{1, 2}, Vector{1, 2, 3}, 0, ErrLength},
		{"long gradient", Vector{1, 2, 3}, Vector{1, 2, 3, 4}, 0, ErrLength},
		{"negative step", Vector{1, 2, 3}, Vector{1, 2, 3}, -1, ErrConfig},
		{"NaN gradient", Vector{1, 2, 3}, Vector{1, nan, 3}, 0, ErrNonFinite},
		{"Inf gradient", Vector{1, 2, 3}, Vector{float32(math.Inf(1)), 0, 0}, 0, ErrNonFinite},
	}
	for _, name := range []string{"sgd", "adam"} {
		for _, tt := range tests {
			opt, err := NewOptimizer(OptimizerConfig{Name: name, Momentum: map[string]float64{"sgd": 0.9}[name]}, smallLayout(t, 3))
			if err != nil {
				t.Fatal(err)
			}
			if err := opt.Step(Vector{1, 1, 1}, Vector{1, 2, 3}, 0); err != nil {
				t.Fatal(err)
			}
			before := opt.State()
			p := tt.p.Clone()
			err = opt.Step(p, tt.g, tt.step)
			if !errors.Is(err, tt.want) {
				t.Errorf("%s %s: err = %v, want %v", name, tt.name, err, tt.want)
			}
			if !p.Equal(tt.p) {
				t.Errorf("%s %s: params changed to %v", name, tt.name, p)
			}
			after := opt.State()
			for i := range before {
				if !before[i].Equal(after[i]) {
					t.Errorf("%s %s: state %d changed", name, tt.name, i)
				}
			}
		}
	}
}

// TestRestoredStateContinuesBitForBit stops a run after 7 steps, moves
// parameters and state through the codec into a fresh optimizer, and checks
// the next 8 steps give the same bits as the uninterrupted run.
func TestRestoredStateContinuesBitForBit(t *testing.T) {
	const n = 50
	for _, cfg := range []OptimizerConfig{
		{Name: "sgd", LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01},
		{Name: "sgd", LR: 0.05},
		{Name: "adam", LR: 0.01, ClipNorm: 1, Schedule: Schedule{Kind: "cosine", TotalSteps: 15, WarmupSteps: 3}},
	} {
		l := smallLayout(t, n)
		q := newQuadratic(n, 7)
		run := func(opt Optimizer, p Vector, from, to int) {
			for s := from; s < to; s++ {
				if err := opt.Step(p, q.grad32(p), s); err != nil {
					t.Fatal(err)
				}
			}
		}
		a, _ := NewOptimizer(cfg, l)
		p := New(l)
		run(a, p, 0, 7)
		saved := encodeVector(p)
		var savedState [][]byte
		for _, v := range a.State() {
			savedState = append(savedState, encodeVector(v))
		}
		run(a, p, 7, 15)

		b, _ := NewOptimizer(cfg, l)
		p2 := decodeVector(t, saved)
		var st []Vector
		for _, enc := range savedState {
			st = append(st, decodeVector(t, enc))
		}
		if err := b.SetState(st); err != nil {
			t.Fatal(err)
		}
		run(b, p2, 7, 15)
		if !p.Equal(p2) {
			t.Errorf("%s: resumed run %s, uninterrupted %s", cfg.Name, p2.SHA256(), p.SHA256())
		}
	}
}

func TestSetStateRejectsWrongShapes(t *testing.T) {
	l := smallLayout(t, 4)
	adam, _ := NewAdam(OptimizerConfig{}, l)
	sgd, _ := NewSGD(OptimizerConfig{Momentum: 0.9}, l)
	plain, _ := NewSGD(OptimizerConfig{}, l)
	tests := []struct {
		name string
		opt  Optimizer
		s    []Vector
	}{
		{"adam one vector", adam, []Vector{make(Vector, 4)}},
		{"adam short vector", adam, []Vector{make(Vector, 4), make(Vector, 3)}},
		{"momentum none", sgd, nil},
		{"plain one", plain, []Vector{make(Vector, 4)}},
	}
	for _, tt := range tests {
		if err := tt.opt.SetState(tt.s); !errors.Is(err, ErrLength) {
			t.Errorf("%s: SetState = %v, want ErrLength", tt.name, err)
		}
	}
	if err := plain.SetState(nil); err != nil {
		t.Errorf("plain SGD with no state: %v", err)
	}
	if got := len(plain.State()); got != 0 {
		t.Errorf("plain SGD has %d state vectors", got)
	}
	st := adam.State()
	st[0][0] = 5
	if adam.State()[0][0] != 0 {
		t.Error("State() shares memory with the optimizer")
	}
}

func TestNewOptimizerRejectsBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		cfg  OptimizerConfig
		want string
	}{
		{"unknown name", OptimizerConfig{Name: "adamw"}, `optimizer name "adamw" unknown, want "sgd" or "adam"`},
		{"negative lr", OptimizerConfig{LR: -1}, "lr -1"},
		{"NaN lr", OptimizerConfig{LR: math.NaN()}, "lr NaN"},
		{"momentum one", OptimizerConfig{Name: "sgd", Momentum: 1}, "momentum 1"},
		{"nesterov without momentum", OptimizerConfig{Name: "sgd", Nesterov: true}, "nesterov"},
		{"momentum on adam", OptimizerConfig{Momentum: 0.9}, "momentum 0.9"},
		{"beta1 one", OptimizerConfig{Beta1: 1}, "beta1 1"},
		{"beta2 negative", OptimizerConfig{Beta2: -0.5}, "beta2 -0.5"},
		{"eps negative", OptimizerConfig{Eps: -1}, "eps -1"},
		{"negative decay", OptimizerConfig{WeightDecay: -0.1}, "weight_decay -0.1"},
		{"unknown decay mode", OptimizerConfig{DecayMode: "l1"}, `decay_mode "l1"`},
		{"negative clip", OptimizerConfig{ClipNorm: -1}, "clip_norm -1"},
		{"bad schedule", OptimizerConfig{Schedule: Schedule{Kind: "cosine"}}, "total_steps 0"},
	}
	for _, tt := range tests {
		_, err := NewOptimizer(tt.cfg, smallLayout(t, 2))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrConfig mentioning %q", tt.name, err, tt.want)
		}
	}
	bad := Layout{Entries: []Entry{{Name: "w", Shape: []int{2}, Offset: 1}}}
	if _, err := NewOptimizer(OptimizerConfig{}, bad); !errors.Is(err, ErrLayout) {
		t.Errorf("bad layout: %v, want ErrLayout", err)
	}
	if _, err := NewAdam(OptimizerConfig{Name: "sgd"}, smallLayout(t, 2)); !errors.Is(err, ErrConfig) {
		t.Errorf("NewAdam with an sgd config: %v, want ErrConfig", err)
	}
}

func TestDefaultConfigIsAdamThatTrains(t *testing.T) {
	c := DefaultOptimizerConfig()
	want := OptimizerConfig{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		DecayMode: DecayDecoupled, Schedule: Schedule{Kind: ScheduleConstant}}
	if c != want {
		t.Fatalf("DefaultOptimizerConfig() = %+v, want %+v", c, want)
	}
	if got := (OptimizerConfig{Name: "sgd"}).WithDefaults().LR; got != 1e-2 {
		t.Errorf("SGD default lr %v, want 1e-2", got)
	}
	const n = 16
	l := smallLayout(t, n)
	opt, err := NewOptimizer(OptimizerConfig{}, l)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Config() != want {
		t.Errorf("Config() = %+v", opt.Config())
	}
	q := newQuadratic(n, 3)
	p := New(l)
	start := q.loss(p)
	for s := range 1500 {
		if err := opt.Step(p, q.grad32(p), s); err != nil {
			t.Fatal(err)
		}
	}
	if end := q.loss(p); !(end < start/100) {
		t.Errorf("default Adam took the loss from %g to %g in 1500 steps, want a 100x drop", start, end)
	}
}

// TestAdamSameBitsOnAnyNumberOfCores: Adam splits large vectors over
// goroutines; every value is updated alone, so one core and four must
// give the same parameters and moments, step after step.
func TestAdamSameBitsOnAnyNumberOfCores(t *testing.T) {
	const n = 4*parallelMin + 123 // split four ways, unevenly
	l, err := NewLayout(Spec{"w", []int{n}})
	if err != nil {
		t.Fatal(err)
	}
	run := func(procs int) (Vector, []Vector) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		opt, err := NewOptimizer(OptimizerConfig{Name: "adam", WeightDecay: 1e-2, ClipNorm: 1}, l)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(3, 4))
		p, g := New(l), New(l)
		for i := range p {
			p[i] = float32(r.NormFloat64())
		}
		for s := 0; s < 5; s++ {
			for i := range g {
				g[i] = float32(r.NormFloat64() * 1e-2)
			}
			if err := opt.Step(p, g, s); err != nil {
				t.Fatal(err)
			}
		}
		return p, opt.State()
	}
	p1, st1 := run(1)
	p4, st4 := run(4)
	for i := range p1 {
		if math.Float32bits(p1[i]) != math.Float32bits(p4[i]) {
			t.Fatalf("parameter %d: %v on one core, %v on four", i, p1[i], p4[i])
		}
	}
	for k := range st1 {
		for i := range st1[k] {
			if math.Float32bits(st1[k][i]) != math.Float32bits(st4[k][i]) {
				t.Fatalf("moment %d value %d: %v on one core, %v on four", k, i, st1[k][i], st4[k][i])
			}
		}
	}
}
