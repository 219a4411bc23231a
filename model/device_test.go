//go:build !fslcuda

package model

import (
	"errors"
	"strings"
	"testing"
)

func TestGPUOptionWithoutCUDA(t *testing.T) {
	m, err := New(Config{}, GPU(-1))
	if err != nil {
		t.Fatalf("New with GPU(-1) = %v, want the CPU", err)
	}
	if info := m.DeviceInfo(); info != "" {
		t.Errorf("DeviceInfo on the CPU = %q, want empty", info)
	}
	_, err = New(Config{}, GPU(0))
	if !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "-tags fslcuda") {
		t.Fatalf("New with GPU(0) = %v, want ErrNoCUDA naming -tags fslcuda", err)
	}
	if _, err := New(Config{}, GPU(-2)); !errors.Is(err, ErrConfig) {
		t.Fatalf("New with GPU(-2) = %v, want ErrConfig", err)
	}
}
