package machine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		field  string
		mutate func(*Config)
	}{
		{"Job", func(c *Config) { c.Job = "" }},
		{"ShardsPerStep", func(c *Config) { c.ShardsPerStep = 0 }},
		{"ShardsPerStep", func(c *Config) { c.ShardsPerStep = MaxShardsPerStep + 1 }},
		{"TotalSteps", func(c *Config) { c.TotalSteps = 0 }},
		{"LeaseTimeout", func(c *Config) { c.LeaseTimeout = -time.Second }},
		{"LeaseTimeout", func(c *Config) { c.LeaseTimeout = 0 }},
		{"HeartbeatTimeout", func(c *Config) { c.HeartbeatTimeout = -1 }},
		{"HeartbeatTimeout", func(c *Config) { c.HeartbeatTimeout = 0 }},
		{"RetryAfter", func(c *Config) { c.RetryAfter = -1 }},
		{"RetryAfter", func(c *Config) { c.RetryAfter = 0 }},
		{"BackupWhenRemaining", func(c *Config) { c.BackupWhenRemaining = -1 }},
		{"MaxBackupsPerShard", func(c *Config) { c.MaxBackupsPerShard = -1 }},
		{"MaxBackupsPerShard", func(c *Config) { c.BackupWhenRemaining, c.MaxBackupsPerShard = 1, 0 }},
		{"BackupSlowFactor", func(c *Config) { c.BackupWhenRemaining, c.BackupSlowFactor = 1, 0 }},
		{"CheckpointEvery", func(c *Config) { c.CheckpointEvery = -2 }},
		{"GradLen", func(c *Config) { c.GradLen = 0 }},
		{"StateLen", func(c *Config) { c.StateLen = -1 }},
	}
	for _, tt := range tests {
		cfg := testConfig()
		tt.mutate(&cfg)
		_, err := New(cfg, 0)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("bad %s: New = %v, want ErrInvalidConfig naming the field", tt.field, err)
		}
	}
}

func TestNewReportsEveryBadField(t *testing.T) {
	_, err := New(Config{}, 0)
	for _, field := range []string{"Job", "ShardsPerStep", "TotalSteps", "GradLen"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("New(Config{}) = %v, want it to name %s", err, field)
		}
	}
}

func TestNewKeepsConfigAsGiven(t *testing.T) {
	cfg := testConfig()
	m, err := New(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Config(); !reflect.DeepEqual(got, cfg) {
		t.Fatalf("Config() = %+v, want %+v as given", got, cfg)
	}
}
