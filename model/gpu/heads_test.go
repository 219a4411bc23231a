package gpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fdCheck compares the analytic gradient of f at x with central finite
// differences and returns the worst relative error over x's coordinates.
func fdCheck(t *testing.T, name string, x, grad []float64, f func([]float64) float64) {
	t.Helper()
	const h = 1e-6
	var worst float64
	scale := 1e-6
	for _, g := range grad {
		scale = math.Max(scale, math.Abs(g))
	}
	for i := range x {
		old := x[i]
		x[i] = old + h
		up := f(x)
		x[i] = old - h
		down := f(x)
		x[i] = old
		num := (up - down) / (2 * h)
		worst = math.Max(worst, math.Abs(num-grad[i])/scale)
	}
	if worst > 1e-6 {
		t.Errorf("%s: analytic and finite-difference gradients differ by %.3g relative (max over coordinates)", name, worst)
	}
}

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

func TestTripletGradientMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const tr, d = 7, 5
	emb := randVec(rng, 3*tr*d, 1)
	dEmb := make([]float64, len(emb))
	// margin chosen so that some triplets are active and some are not
	loss, err := Triplet(emb, tr, d, 2, dEmb)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for i := 0; i < tr; i++ {
		for _, g := range dEmb[3*i*d : 3*(i+1)*d] {
			if g != 0 {
				active++
				break
			}
		}
	}
	if active == 0 || active == tr {
		t.Fatalf("%d of %d triplets active; the check needs both kinds", active, tr)
	}
	if loss <= 0 {
		t.Fatalf("loss %v, want > 0 with active triplets", loss)
	}
	scratch := make([]float64, len(emb))
	fdCheck(t, "triplet", emb, dEmb, func(x []float64) float64 {
		l, _ := Triplet(x, tr, d, 2, scratch)
		return l
	})
}

func TestTripletLossByHand(t *testing.T) {
	// d = 1: a = 0, p = 1, n = 3: ‖a−p‖² − ‖a−n‖² + 1 = 1 − 9 + 1 < 0 → 0;
	// a = 0, p = 2, n = 1: 4 − 1 + 1 = 4. Mean 2.
	emb := []float32{0, 1, 3, 0, 2, 1}
	dEmb := make([]float32, 6)
	loss, err := Triplet(emb, 2, 1, 1, dEmb)
	if err != nil {
		t.Fatal(err)
	}
	if loss != 2 {
		t.Errorf("loss %v, want 2", loss)
	}
	// second triplet: d/da = (2/2)(n − p) = −1, d/dp = p − a = 2, d/dn = a − n = −1
	want := []float32{0, 0, 0, -1, 2, -1}
	for i := range want {
		if dEmb[i] != want[i] {
			t.Errorf("dEmb = %v, want %v", dEmb, want)
			break
		}
	}
}

func TestSiameseGradientMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const p, d = 6, 4
	emb := randVec(rng, 2*p*d, 1)
	w := randVec(rng, d, 1)
	b := 0.3
	same := []uint8{1, 0, 1, 0, 0, 1}
	dEmb, dw := make([]float64, len(emb)), make([]float64, d)
	_, db, err := Siamese(emb, p, d, same, w, b, dEmb, dw)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := make([]float64, len(emb)), make([]float64, d)
	fdCheck(t, "siamese dEmb", emb, dEmb, func(x []float64) float64 {
		l, _, _ := Siamese(x, p, d, same, w, b, s1, s2)
		return l
	})
	fdCheck(t, "siamese dw", w, dw, func(x []float64) float64 {
		l, _, _ := Siamese(emb, p, d, same, x, b, s1, s2)
		return l
	})
	bv := []float64{b}
	fdCheck(t, "siamese db", bv, []float64{db}, func(x []float64) float64 {
		l, _, _ := Siamese(emb, p, d, same, w, x[0], s1, s2)
		return l
	})
}

func TestSiameseLossIsStableForLargeLogits(t *testing.T) {
	// |e1−e2| = 1, w = 1000: z = 1000 ± b; a naive log(sigmoid) overflows
	emb := []float32{0, 1, 0, 1}
	w := []float32{1000}
	dEmb, dw := make([]float32, 4), make([]float32, 1)
	loss, _, err := Siamese(emb, 2, 1, []uint8{1, 0}, w, 0, dEmb, dw)
	if err != nil {
		t.Fatal(err)
	}
	// pair 0: same, z = 1000 → loss ≈ 0; pair 1: different → loss ≈ 1000
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.Abs(loss-500) > 1e-9 {
		t.Errorf("loss %v, want 500 (mean of ≈0 and 1000)", loss)
	}
}

func TestProtoGradientMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const way, shot, query, d = 3, 2, 2, 4
	emb := randVec(rng, way*(shot+query)*d, 1)
	labels := []int32{0, 0, 1, 1, 2, 2}
	dEmb := make([]float64, len(emb))
	loss, err := Proto(emb, way, shot, query, d, labels, dEmb)
	if err != nil {
		t.Fatal(err)
	}
	if loss <= 0 {
		t.Fatalf("loss %v, want > 0", loss)
	}
	scratch := make([]float64, len(emb))
	fdCheck(t, "prototypical", emb, dEmb, func(x []float64) float64 {
		l, _ := Proto(x, way, shot, query, d, labels, scratch)
		return l
	})
}

func TestProtoLossOfSeparatedClassesIsSmall(t *testing.T) {
	// queries sit on their own prototypes, classes 10 apart: loss ≈ 0
	emb := []float32{0, 10, 0, 10}
	loss, err := Proto(emb, 2, 1, 1, 1, []int32{0, 1}, make([]float32, 4))
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Log1p(math.Exp(-100)); math.Abs(loss-want) > 1e-12 {
		t.Errorf("loss %v, want %v", loss, want)
	}
}

func TestHeadsRejectBadShapes(t *testing.T) {
	emb := make([]float32, 12)
	cases := []struct {
		name string
		err  func() error
	}{
		{"triplet short gradient", func() error { _, err := Triplet(emb, 2, 2, 1, make([]float32, 11)); return err }},
		{"triplet zero triplets", func() error { _, err := Triplet(emb[:0], 0, 2, 1, emb[:0]); return err }},
		{"siamese wrong same flags", func() error {
			_, _, err := Siamese(emb, 3, 2, []uint8{1}, make([]float32, 2), 0, make([]float32, 12), make([]float32, 2))
			return err
		}},
		{"siamese wrong weights", func() error {
			_, _, err := Siamese(emb, 3, 2, []uint8{1, 0, 1}, make([]float32, 3), 0, make([]float32, 12), make([]float32, 2))
			return err
		}},
		{"proto label out of range", func() error {
			_, err := Proto(emb, 2, 1, 2, 2, []int32{0, 0, 1, 2}, make([]float32, 12))
			return err
		}},
		{"proto rows do not fit", func() error {
			_, err := Proto(emb, 2, 2, 2, 2, []int32{0, 0, 1, 1}, make([]float32, 12))
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err() == nil {
				t.Error("no error")
			}
		})
	}
}
