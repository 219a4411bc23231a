package params

import (
	"fmt"
	"math"
)

// Schedule kinds.
const (
	ScheduleConstant = "constant"
	ScheduleStep     = "step"
	ScheduleCosine   = "cosine"
)

// Schedule scales the base learning rate by the step number. The zero value
// is a constant rate without warmup.
//
// Steps are 0-based: step s is the update that turns version s into s+1.
// With WarmupSteps W > 0 the rate rises linearly over steps 0..W-1 as
// base*(s+1)/W, reaching base at step W-1; the kind then applies to t = s-W:
//   - constant: base.
//   - step: base * Gamma^floor(t/StepSize).
//   - cosine: MinLR + (base-MinLR)*(1+cos(pi*t/T))/2 with T = TotalSteps-W,
//     and MinLR once t >= T.
type Schedule struct {
	// Kind is "constant" (default when empty), "step" or "cosine".
	Kind string `yaml:"kind"`
	// WarmupSteps is the number of linear warmup steps; 0 for none.
	WarmupSteps int `yaml:"warmup_steps"`
	// StepSize is the number of steps between decays of the step kind.
	StepSize int `yaml:"step_size"`
	// Gamma is the factor of each decay of the step kind; 0 means 0.1.
	Gamma float64 `yaml:"gamma"`
	// TotalSteps is where the cosine kind reaches MinLR, warmup included.
	TotalSteps int `yaml:"total_steps"`
	// MinLR is the cosine kind's final rate, absolute (not a fraction).
	MinLR float64 `yaml:"min_lr"`
}

func (s Schedule) kind() string {
	if s.Kind == "" {
		return ScheduleConstant
	}
	return s.Kind
}

func (s Schedule) gamma() float64 {
	if s.Gamma == 0 {
		return 0.1
	}
	return s.Gamma
}

// Validate reports an unknown kind or a parameter the kind cannot use, as an
// error wrapping ErrConfig that names the field.
func (s Schedule) Validate() error {
	if s.WarmupSteps < 0 {
		return fmt.Errorf("params: schedule warmup_steps %d, want >= 0: %w", s.WarmupSteps, ErrConfig)
	}
	switch s.kind() {
	case ScheduleConstant:
	case ScheduleStep:
		if s.StepSize <= 0 {
			return fmt.Errorf("params: step schedule step_size %d, want > 0: %w", s.StepSize, ErrConfig)
		}
		if g := s.gamma(); !(g > 0) || math.IsInf(g, 0) {
			return fmt.Errorf("params: step schedule gamma %v, want a finite value > 0: %w", s.Gamma, ErrConfig)
		}
	case ScheduleCosine:
		if s.TotalSteps <= s.WarmupSteps {
			return fmt.Errorf("params: cosine schedule total_steps %d, want more than warmup_steps %d: %w",
				s.TotalSteps, s.WarmupSteps, ErrConfig)
		}
		if !(s.MinLR >= 0) || math.IsInf(s.MinLR, 0) {
			return fmt.Errorf("params: cosine schedule min_lr %v, want a finite value >= 0: %w", s.MinLR, ErrConfig)
		}
	default:
		return fmt.Errorf("params: schedule kind %q unknown, want %q, %q or %q: %w",
			s.Kind, ScheduleConstant, ScheduleStep, ScheduleCosine, ErrConfig)
	}
	return nil
}

// LR is the learning rate at 0-based step for the base rate. It assumes a
// valid schedule (see Validate) and a step >= 0; negative steps are treated
// as 0. An unknown kind yields base.
func (s Schedule) LR(base float64, step int) float64 {
	if step < 0 {
		step = 0
	}
	w := s.WarmupSteps
	if w > 0 && step < w {
		return base * float64(step+1) / float64(w)
	}
	t := step - max(w, 0)
	switch s.kind() {
	case ScheduleStep:
		if s.StepSize <= 0 {
			return base
		}
		return base * math.Pow(s.gamma(), float64(t/s.StepSize))
	case ScheduleCosine:
		T := s.TotalSteps - max(w, 0)
		if T <= 0 || t >= T {
			return s.MinLR
		}
		// float64(...) forbids an FMA: the same rate on every architecture.
		return s.MinLR + float64((base-s.MinLR)*0.5*(1+math.Cos(math.Pi*float64(t)/float64(T))))
	default:
		return base
	}
}
