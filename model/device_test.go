//go:build !fslcuda

package model

import (
	"errors"
	"strings"
	"testing"
)

func TestDeviceWithoutCUDA(t *testing.T) {
	if err := Device(-1); err != nil {
		t.Fatalf("Device(-1) = %v, want nil", err)
	}
	err := Device(0)
	if !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "-tags fslcuda") {
		t.Fatalf("Device(0) = %v, want ErrNoCUDA naming -tags fslcuda", err)
	}
	if err := Device(-2); err == nil {
		t.Fatal("Device(-2) = nil")
	}
}
