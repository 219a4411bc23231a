package model

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// tripletLoss is the mean over t triplets (rows 3i, 3i+1, 3i+2 of emb
// [3t d] are anchor, positive, negative) of
// max(0, ‖a−p‖² − ‖a−n‖² + margin).
func tripletLoss(emb *G.Node, t, d int, margin float64, dt tensor.Dtype) *G.Node {
	rows := must(G.Reshape(emb, tensor.Shape{t, 3 * d}))
	a := must(G.Slice(rows, nil, G.S(0, d)))
	p := must(G.Slice(rows, nil, G.S(d, 2*d)))
	n := must(G.Slice(rows, nil, G.S(2*d, 3*d)))
	dap := must(G.Sum(must(G.Square(must(G.Sub(a, p)))), 1))
	dan := must(G.Sum(must(G.Square(must(G.Sub(a, n)))), 1))
	hinge := must(G.Rectify(must(G.Add(must(G.Sub(dap, dan)), scalar(dt, margin)))))
	return must(G.Mean(hinge))
}

// siameseLoss is Koch et al.'s head and loss over p pairs (rows 2i and
// 2i+1 of emb [2p d]): z = |e1−e2|·w + b, mean binary cross-entropy of
// sigmoid(z) against same [p 1], computed from the logit as
// max(z,0) − z·y + log(1 + exp(−|z|)), which never overflows.
func siameseLoss(emb, same, w, b *G.Node, p, d int) *G.Node {
	rows := must(G.Reshape(emb, tensor.Shape{p, 2 * d}))
	e1 := must(G.Slice(rows, nil, G.S(0, d)))
	e2 := must(G.Slice(rows, nil, G.S(d, 2*d)))
	diff := must(G.Abs(must(G.Sub(e1, e2))))
	z := must(G.BroadcastAdd(must(G.Mul(diff, w)), b, nil, []byte{0})) // [p 1]
	pos := must(G.Rectify(z))
	soft := must(G.Log1p(must(G.Exp(must(G.Neg(must(G.Abs(z))))))))
	bce := must(G.Add(must(G.Sub(pos, must(G.HadamardProd(z, same)))), soft))
	return must(G.Mean(bce))
}

// protoLoss is Snell et al.'s loss for a way-way shot-shot episode with
// query queries per class: emb [way·(shot+query) d] holds the support
// class by class, then the queries; prototypes are the class means of the
// support; logits are minus squared distances from each query to each
// prototype; the loss is the mean cross-entropy against onehot
// [way·query way]. The softmax subtracts each row's max logit, which
// cancels exactly in value and gradient.
func protoLoss(emb, onehot *G.Node, way, shot, query, d int) *G.Node {
	ns, nq := way*shot, way*query
	sup := must(G.Slice(emb, G.S(0, ns)))
	protos := must(G.Mean(must(G.Reshape(sup, tensor.Shape{way, shot, d})), 1)) // [way d]
	q := must(G.Slice(emb, G.S(ns, ns+nq)))
	q3 := must(G.Reshape(q, tensor.Shape{nq, 1, d}))
	p3 := must(G.Reshape(protos, tensor.Shape{1, way, d}))
	diff := must(G.BroadcastSub(q3, p3, []byte{1}, []byte{0})) // [nq way d]
	logits := must(G.Neg(must(G.Sum(must(G.Square(diff)), 2))))
	mx := must(G.Reshape(must(G.Max(logits, 1)), tensor.Shape{nq, 1}))
	shifted := must(G.BroadcastSub(logits, mx, nil, []byte{1}))
	lse := must(G.Log(must(G.Sum(must(G.Exp(shifted)), 1))))
	picked := must(G.Sum(must(G.HadamardProd(shifted, onehot)), 1))
	return must(G.Mean(must(G.Sub(lse, picked))))
}

// CosineEps is added to a squared norm before its square root in the
// cosine of the matching loss, so an all-zero embedding (every ReLU off)
// has cosine 0 with everything rather than NaN; eval's matching classifier
// uses the same.
const CosineEps = 1e-8

// matchingLoss is Vinyals et al.'s Matching Networks loss (no full-context
// embeddings) for a way-way shot-shot episode with query queries per
// class, emb laid out as protoLoss's: the attention of a query on support
// image s is the softmax over the support set of the cosine similarities,
// a class's probability is the sum of the attention on its supports, and
// the loss is the mean cross-entropy against onehot [way·query way]. Each
// cosine is first multiplied by scale (Config.MatchingScale; 1 multiplies
// nothing, so bits stay those of the plain loss). The cosines lie in
// [−1, 1] and scale ≤ 1/MinTemperature, so exp cannot overflow and no max
// is subtracted: −log p(y) = log Σ_s exp(a_s) − log Σ_{s of class y} exp(a_s)
// with a_s = scale·cos_s.
func matchingLoss(emb, onehot *G.Node, way, shot, query, d int, scale float64, dt tensor.Dtype) *G.Node {
	ns, nq := way*shot, way*query
	unit := func(x *G.Node, n int) *G.Node {
		norm := must(G.Sqrt(must(G.Add(must(G.Sum(must(G.Square(x)), 1)), scalar(dt, CosineEps)))))
		return must(G.BroadcastHadamardDiv(x, must(G.Reshape(norm, tensor.Shape{n, 1})), nil, []byte{1}))
	}
	sup := unit(must(G.Slice(emb, G.S(0, ns))), ns)
	q := unit(must(G.Slice(emb, G.S(ns, ns+nq))), nq)
	q3 := must(G.Reshape(q, tensor.Shape{nq, 1, d}))
	s3 := must(G.Reshape(sup, tensor.Shape{1, ns, d}))
	cos := must(G.Sum(must(G.BroadcastHadamardProd(q3, s3, []byte{1}, []byte{0})), 2)) // [nq ns]
	if scale != 1 {
		cos = must(G.Mul(cos, scalar(dt, scale)))
	}
	e := must(G.Exp(cos))
	z := must(G.Sum(e, 1))                                                      // [nq]
	perClass := must(G.Sum(must(G.Reshape(e, tensor.Shape{nq, way, shot})), 2)) // [nq way]
	picked := must(G.Sum(must(G.HadamardProd(perClass, onehot)), 1))
	return must(G.Mean(must(G.Sub(must(G.Log(z)), must(G.Log(picked))))))
}

// minedTripletLoss is the triplet loss over a params.KindClasses batch of
// n images, k per class, class by class: squared Euclidean distances
// between all embeddings (emb [n d]), the triplets mining picks from them
// (minedOp), and the mean of max(0, d(a,p) − d(a,n) + margin) over them.
func minedTripletLoss(emb *G.Node, n, k, d int, mining Mining, margin float64, dt tensor.Dtype) *G.Node {
	e1 := must(G.Reshape(emb, tensor.Shape{n, 1, d}))
	e2 := must(G.Reshape(emb, tensor.Shape{1, n, d}))
	dist := must(G.Sum(must(G.Square(must(G.BroadcastSub(e1, e2, []byte{1}, []byte{0})))), 2)) // [n n]
	terms := must(G.ApplyOp(minedOp{opBase{"mined" + mining.String()}, mining, k, new(outBuf)}, dist))
	return must(G.Mean(must(G.Rectify(must(G.Add(terms, scalar(dt, margin)))))))
}
