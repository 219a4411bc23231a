package params

import (
	"errors"
	"math"
	"testing"
)

func TestScheduleMatchesHandComputedRates(t *testing.T) {
	const base = 0.1
	tests := []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"zero value is constant", Schedule{}, 0, 0.1},
		{"constant late", Schedule{Kind: "constant"}, 100000, 0.1},
		{"warmup first step", Schedule{WarmupSteps: 4}, 0, 0.025},
		{"warmup second step", Schedule{WarmupSteps: 4}, 1, 0.05},
		{"warmup last step reaches base", Schedule{WarmupSteps: 4}, 3, 0.1},
		{"after warmup", Schedule{WarmupSteps: 4}, 4, 0.1},
		{"negative step as 0", Schedule{WarmupSteps: 4}, -3, 0.025},
		{"step before first decay", Schedule{Kind: "step", StepSize: 10, Gamma: 0.5}, 9, 0.1},
		{"step first decay", Schedule{Kind: "step", StepSize: 10, Gamma: 0.5}, 10, 0.05},
		{"step second decay", Schedule{Kind: "step", StepSize: 10, Gamma: 0.5}, 25, 0.025},
		{"step default gamma", Schedule{Kind: "step", StepSize: 10}, 20, 0.001},
		{"step counts after warmup", Schedule{Kind: "step", StepSize: 10, Gamma: 0.5, WarmupSteps: 5}, 14, 0.1},
		{"step decays after warmup", Schedule{Kind: "step", StepSize: 10, Gamma: 0.5, WarmupSteps: 5}, 15, 0.05},
		{"cosine start", Schedule{Kind: "cosine", TotalSteps: 10}, 0, 0.1},
		{"cosine middle", Schedule{Kind: "cosine", TotalSteps: 10}, 5, 0.05},
		{"cosine quarter", Schedule{Kind: "cosine", TotalSteps: 12}, 4, 0.075},
		{"cosine end", Schedule{Kind: "cosine", TotalSteps: 10}, 10, 0},
		{"cosine past end", Schedule{Kind: "cosine", TotalSteps: 10}, 50, 0},
		{"cosine middle with floor", Schedule{Kind: "cosine", TotalSteps: 10, MinLR: 0.01}, 5, 0.055},
		{"cosine end at floor", Schedule{Kind: "cosine", TotalSteps: 10, MinLR: 0.01}, 10, 0.01},
		{"cosine warmup", Schedule{Kind: "cosine", TotalSteps: 12, WarmupSteps: 2}, 0, 0.05},
		{"cosine after warmup starts at base", Schedule{Kind: "cosine", TotalSteps: 12, WarmupSteps: 2}, 2, 0.1},
		{"cosine middle after warmup", Schedule{Kind: "cosine", TotalSteps: 12, WarmupSteps: 2}, 7, 0.05},
		{"cosine end after warmup", Schedule{Kind: "cosine", TotalSteps: 12, WarmupSteps: 2}, 12, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := tt.s.LR(base, tt.step); math.Abs(got-tt.want) > 1e-15 {
				t.Errorf("LR(%v, %d) = %.17g, want %v", base, tt.step, got, tt.want)
			}
		})
	}
}

func TestScheduleValidateRejectsUnusableSettings(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
	}{
		{"unknown kind", Schedule{Kind: "exp"}},
		{"negative warmup", Schedule{WarmupSteps: -1}},
		{"step without size", Schedule{Kind: "step"}},
		{"step negative gamma", Schedule{Kind: "step", StepSize: 3, Gamma: -0.5}},
		{"step infinite gamma", Schedule{Kind: "step", StepSize: 3, Gamma: math.Inf(1)}},
		{"cosine without total", Schedule{Kind: "cosine"}},
		{"cosine total within warmup", Schedule{Kind: "cosine", TotalSteps: 5, WarmupSteps: 5}},
		{"cosine negative floor", Schedule{Kind: "cosine", TotalSteps: 5, MinLR: -1}},
		{"cosine NaN floor", Schedule{Kind: "cosine", TotalSteps: 5, MinLR: math.NaN()}},
	}
	for _, tt := range tests {
		if err := tt.s.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate() = %v, want ErrConfig", tt.name, err)
		}
	}
}
