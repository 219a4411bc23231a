package cli

import (
	"strings"
	"testing"
)

func TestMeasureStepReportsRateAndMemory(t *testing.T) {
	for _, loss := range []string{"triplet", "siamese", "proto", "matching"} {
		r, err := measureStep(loss+":2", 60, 16, 1, 2)
		if err != nil {
			t.Fatalf("%s: %v", loss, err)
		}
		if r.Loss != loss || r.Threads != 2 || !(r.ImagesPerSec > 0) || !(r.PeakRSSMiB > 0) || r.BLAS == "" {
			t.Errorf("%s: %+v, want the loss, 2 threads, a positive rate and RSS, and the BLAS", loss, r)
		}
	}
}

// TestMeasureStepOnColourImages: bench step --channels 3 measures the
// colour glyphs (the first conv layer on three planes).
func TestMeasureStepOnColourImages(t *testing.T) {
	r, err := measureStep("proto:1", 60, 16, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !(r.ImagesPerSec > 0) {
		t.Errorf("%+v, want a positive rate", r)
	}
}

func TestMeasureStepRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct{ one, want string }{
		{"triplet", "LOSS:THREADS"},
		{"triplet:0", "LOSS:THREADS"},
		{"nope:1", "unknown"},
	} {
		if _, err := measureStep(tc.one, 30, 16, 1, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--one %q: error %v, want one containing %q", tc.one, err, tc.want)
		}
	}
	for _, tc := range []struct {
		one    string
		images int
	}{{"triplet:1", 31}, {"siamese:1", 30}, {"proto:1", 33}} { // 30 images are 15 pairs: not balanced
		if _, err := measureStep(tc.one, tc.images, 16, 1, 1); err == nil || !strings.Contains(err.Error(), "--images") {
			t.Errorf("%s on %d images: error %v, want one naming --images", tc.one, tc.images, err)
		}
	}
	if _, err := intList("threads", "1,x"); err == nil || !strings.Contains(err.Error(), "--threads") {
		t.Errorf("intList: error %v, want one naming --threads", err)
	}
}
