package params

// SGD is stochastic gradient descent with optional momentum and Nesterov
// momentum. Per value, with gradient g after clipping and (L2 mode) g += wd*p:
//
//	b = mu*b + g              (when mu > 0)
//	d = g + mu*b (Nesterov), b (momentum), or g (mu = 0)
//	p = p - lr*wd*p - lr*d    (the wd term in decoupled mode only)
//
// computed in float64 and rounded to float32 when stored.
type SGD struct {
	base
	velocity Vector // nil without momentum
}

// NewSGD returns an SGD optimizer for layout l with zero velocity. cfg.Name
// must be "sgd".
func NewSGD(cfg OptimizerConfig, l Layout) (*SGD, error) {
	if cfg.Name == "" {
		cfg.Name = OptimizerSGD
	}
	b, err := newBase(cfg, l, OptimizerSGD)
	if err != nil {
		return nil, err
	}
	s := &SGD{base: b}
	if b.cfg.Momentum > 0 {
		s.velocity = make(Vector, b.n)
	}
	return s, nil
}

// Step implements Optimizer.
func (s *SGD) Step(p, g Vector, step int) error {
	lr, scale, err := s.prepare(p, g, step)
	if err != nil {
		return err
	}
	mu := s.cfg.Momentum
	wd := s.cfg.WeightDecay
	l2 := s.cfg.DecayMode == DecayL2
	lrwd := 0.0
	if !l2 {
		lrwd = lr * wd
	}
	nesterov := s.cfg.Nesterov
	vel := s.velocity
	// Explicit float64(...) around products: no FMA contraction, same bits
	// on every architecture.
	for i := range p {
		pi := float64(p[i])
		gi := float64(float64(g[i]) * scale)
		if l2 {
			gi += float64(wd * pi)
		}
		d := gi
		if vel != nil {
			b := float64(mu*float64(vel[i])) + gi
			vel[i] = float32(b)
			d = b
			if nesterov {
				d = gi + float64(mu*b)
			}
		}
		pi = pi - float64(lrwd*pi) - float64(lr*d)
		p[i] = float32(pi)
	}
	return nil
}

// State implements Optimizer: [velocity] with momentum, none without.
func (s *SGD) State() []Vector {
	if s.velocity == nil {
		return []Vector{}
	}
	return []Vector{s.velocity.Clone()}
}

// SetState implements Optimizer.
func (s *SGD) SetState(st []Vector) error {
	dst := []Vector{}
	if s.velocity != nil {
		dst = []Vector{s.velocity}
	}
	return copyState(OptimizerSGD, dst, st, s.n)
}
