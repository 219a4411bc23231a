package gpu

import (
	"fmt"
	"math"
)

// Float is the element type of the host-side loss heads: float32 for the
// CUDA step, float64 for gradient checks.
type Float interface{ ~float32 | ~float64 }

// The loss heads run on the host: they are tiny next to the backbone. Each
// takes the embeddings emb [n d] (row i is image i of the batch), returns
// the batch's mean loss and writes d(loss)/d(emb) into dEmb (same shape,
// overwritten). Sums accumulate in float64. They mirror package model's
// graphs (loss.go) term by term, including the subgradients Gorgonia
// takes at kinks: ReLU passes the gradient where its input is ≥ 0, and
// |x| has slope sign(x), 0 at 0.

// Triplet is the mean over t triplets (rows 3i, 3i+1, 3i+2 of emb are
// anchor, positive, negative) of max(0, ‖a−p‖² − ‖a−n‖² + margin).
func Triplet[T Float](emb []T, t, d int, margin float64, dEmb []T) (float64, error) {
	if err := checkShape("triplet", emb, dEmb, 3*t, d); err != nil {
		return 0, err
	}
	if t < 1 {
		return 0, fmt.Errorf("triplet head: %d triplets, want ≥ 1", t)
	}
	clear(dEmb)
	var sum float64
	g := 2 / float64(t)
	for i := 0; i < t; i++ {
		a, p, n := emb[3*i*d:(3*i+1)*d], emb[(3*i+1)*d:(3*i+2)*d], emb[(3*i+2)*d:(3*i+3)*d]
		var dap, dan float64
		for j := range a {
			x, y := float64(a[j])-float64(p[j]), float64(a[j])-float64(n[j])
			dap += x * x
			dan += y * y
		}
		h := dap - dan + margin
		if h < 0 {
			continue
		}
		sum += h
		da, dp, dn := dEmb[3*i*d:(3*i+1)*d], dEmb[(3*i+1)*d:(3*i+2)*d], dEmb[(3*i+2)*d:(3*i+3)*d]
		for j := range a {
			av, pv, nv := float64(a[j]), float64(p[j]), float64(n[j])
			da[j] = T(g * (nv - pv))
			dp[j] = T(g * (pv - av))
			dn[j] = T(g * (av - nv))
		}
	}
	return sum / float64(t), nil
}

// Siamese is Koch et al.'s head over p pairs (rows 2i and 2i+1 of emb):
// z = |e1−e2|·w + b, mean binary cross-entropy of sigmoid(z) against same
// (1 same class, 0 different) computed from the logit as
// max(z,0) − z·y + log(1 + exp(−|z|)). It also returns the gradients of
// the head's weights w [d] (into dw, overwritten) and bias b (db).
func Siamese[T Float](emb []T, p, d int, same []uint8, w []T, b T, dEmb, dw []T) (loss, db float64, err error) {
	if err := checkShape("siamese", emb, dEmb, 2*p, d); err != nil {
		return 0, 0, err
	}
	if p < 1 || len(same) != p || len(w) != d || len(dw) != d {
		return 0, 0, fmt.Errorf("siamese head: %d pairs, %d same flags, %d weights, %d weight gradients, want %d pairs ≥ 1 and %d weights",
			p, len(same), len(w), len(dw), p, d)
	}
	clear(dEmb)
	clear(dw)
	var sum float64
	for i := 0; i < p; i++ {
		e1, e2 := emb[2*i*d:(2*i+1)*d], emb[(2*i+1)*d:(2*i+2)*d]
		z := float64(b)
		for j := range e1 {
			z += math.Abs(float64(e1[j])-float64(e2[j])) * float64(w[j])
		}
		y := float64(same[i])
		e := math.Exp(-math.Abs(z))
		sum += math.Max(z, 0) - z*y + math.Log1p(e)
		// d/dz of each term as Gorgonia differentiates it: ReLU's slope is
		// [z ≥ 0], |z|'s is sign(z); this is sigmoid(z) − y except at z = 0.
		relu := 0.0
		if z >= 0 {
			relu = 1
		}
		gz := (relu - y - sign(z)*e/(1+e)) / float64(p)
		db += gz
		d1, d2 := dEmb[2*i*d:(2*i+1)*d], dEmb[(2*i+1)*d:(2*i+2)*d]
		for j := range e1 {
			diff := float64(e1[j]) - float64(e2[j])
			dw[j] += T(gz * math.Abs(diff))
			g := gz * float64(w[j]) * sign(diff)
			d1[j] = T(g)
			d2[j] = T(-g)
		}
	}
	return sum / float64(p), db, nil
}

// Proto is Snell et al.'s loss for a way-way shot-shot episode with query
// queries per class: emb holds way·shot support rows class by class, then
// way·query query rows whose classes are queryLabels (0..way−1); the
// prototypes are the class means of the support; the logits are minus the
// squared distances from each query to each prototype; the loss is the
// mean cross-entropy of their softmax against the query labels.
func Proto[T Float](emb []T, way, shot, query, d int, queryLabels []int32, dEmb []T) (float64, error) {
	ns, nq := way*shot, way*query
	if err := checkShape("prototypical", emb, dEmb, ns+nq, d); err != nil {
		return 0, err
	}
	if way < 1 || shot < 1 || query < 1 || len(queryLabels) != nq {
		return 0, fmt.Errorf("prototypical head: %d-way %d-shot %d-query with %d query labels, want way, shot, query ≥ 1 and %d labels",
			way, shot, query, len(queryLabels), nq)
	}
	for i, l := range queryLabels {
		if l < 0 || int(l) >= way {
			return 0, fmt.Errorf("prototypical head: query %d has label %d, want 0..%d", i, l, way-1)
		}
	}
	clear(dEmb)
	protos := make([]float64, way*d)
	for c := 0; c < way; c++ {
		pc := protos[c*d : (c+1)*d]
		for s := 0; s < shot; s++ {
			for j, v := range emb[(c*shot+s)*d : (c*shot+s+1)*d] {
				pc[j] += float64(v)
			}
		}
		for j := range pc {
			pc[j] /= float64(shot)
		}
	}
	dProtos := make([]float64, way*d)
	logits := make([]float64, way)
	var sum float64
	for i := 0; i < nq; i++ {
		q := emb[(ns+i)*d : (ns+i+1)*d]
		mx := math.Inf(-1)
		for c := range logits {
			var dist float64
			for j, v := range q {
				x := float64(v) - protos[c*d+j]
				dist += x * x
			}
			logits[c] = -dist
			mx = math.Max(mx, -dist)
		}
		var z float64
		for c := range logits {
			z += math.Exp(logits[c] - mx)
		}
		lse := math.Log(z)
		label := int(queryLabels[i])
		sum += lse - (logits[label] - mx)
		// d loss_i / d logit_c = softmax_c − [c = label], averaged over queries;
		// logit_c = −‖q − proto_c‖²
		dq := dEmb[(ns+i)*d : (ns+i+1)*d]
		acc := make([]float64, d)
		for c := range logits {
			g := math.Exp(logits[c]-mx) / z
			if c == label {
				g--
			}
			g /= float64(nq)
			for j, v := range q {
				x := float64(v) - protos[c*d+j]
				acc[j] -= 2 * g * x
				dProtos[c*d+j] += 2 * g * x
			}
		}
		for j := range dq {
			dq[j] = T(acc[j])
		}
	}
	for c := 0; c < way; c++ {
		for s := 0; s < shot; s++ {
			row := dEmb[(c*shot+s)*d : (c*shot+s+1)*d]
			for j := range row {
				row[j] = T(dProtos[c*d+j] / float64(shot))
			}
		}
	}
	return sum / float64(nq), nil
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// checkShape reports whether emb and dEmb both hold rows×d values.
func checkShape[T Float](head string, emb, dEmb []T, rows, d int) error {
	if rows < 1 || d < 1 || len(emb) != rows*d || len(dEmb) != rows*d {
		return fmt.Errorf("%s head: embeddings of %d values and gradient of %d, want %d rows × %d = %d",
			head, len(emb), len(dEmb), rows, d, rows*d)
	}
	return nil
}
