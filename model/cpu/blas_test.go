package cpu

import (
	"os"
	"testing"
)

func TestBLASCoreIsUpgradedFromGenericKernels(t *testing.T) {
	UseBLAS()
	core := BLASCore()
	if core == "" {
		t.Fatal("BLASCore is empty")
	}
	t.Logf("BLAS %s, core %s, OPENBLAS_CORETYPE=%q", BLASName(), core, os.Getenv("OPENBLAS_CORETYPE"))
	if os.Getenv("OPENBLAS_CORETYPE") == "" {
		if s := SuggestedBLASCore(); s != "" {
			t.Fatalf("still on %s kernels although %s would run", core, s)
		}
	}
}
