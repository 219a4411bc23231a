package cpu

import "math"

// Batch norm, ReLU and 2×2 max-pooling (stride 2, floor: an odd last row
// or column is dropped) fused into one op per direction. Training graph:
//
//	st = bnStats(x)                 // [2 C]: mean, biased variance
//	y  = bnReluPool(x, st, γ, β)    // pool(relu(x·a + shift)), a = γ/√(σ²+eps)
//
// The unpooled activation is never stored. Instead the forward pass
// records each window's routes (see routes): the position of its first
// maximum of z = x·a + shift in (0,0), (0,1), (1,0), (1,1) order (where
// the pooled ReLU output came from, as ReLU is increasing), whether that
// maximum is positive, and x there. The window's gradient goes to that
// position if the maximum is positive, so dz = dy there and 0 elsewhere.
// Then, with the full batch-norm derivative through the batch statistics:
//
//	pg = bnPoolParamGrad(x, st, γ, β, dy)     // [dγ; dβ] = [Σ dz·x̂; Σ dz]
//	dx = bnPoolInputGrad(x, st, γ, β, dy, pg) // a·dz − (dβ + x̂·dγ)·a/M
//
// with x̂ = (x − μ)/√(σ²+eps) and M = N·H·W. The parameter gradient
// reads only the routes and dy; the input gradient reads x once. Work is
// split over channels (Kernels.parallelFor), each channel computed alone.

// ChannelStats writes out [2 C]: the per-channel mean, then the biased
// variance, of x [C N H W] with m = N·H·W values per channel: one pass of Σx and Σx² in float64 (channelSums32 for
// float32).
func ChannelStats[T Float](k *Kernels, x, out []T, c, m int) {
	k.parallelFor(c, func(_, ch int) {
		v := x[ch*m : (ch+1)*m]
		var sum, sq float64
		if v32, ok := any(v).([]float32); ok {
			sum, sq = k.channelSums32(v32)
		} else {
			for _, e := range v {
				f := float64(e)
				sum, sq = sum+f, sq+f*f
			}
		}
		mu := sum / float64(m)
		vr := max(sq/float64(m)-mu*mu, 0)
		out[ch], out[c+ch] = T(mu), T(vr)
	})
}

// affine returns the per-channel scale a = γ/√(σ²+eps), the shift
// β − μ·a and 1/√(σ²+eps) from the statistics st [2 C].
func affine[T Float](st, gamma, beta []T, ch int) (a, shift T, inv float64) {
	c := len(gamma)
	inv = 1 / math.Sqrt(float64(st[c+ch])+BNEps)
	af := float64(gamma[ch]) * inv
	return T(af), T(float64(beta[ch]) - float64(st[ch])*af), inv
}

// routes is what the forward pass of bnReluPool leaves for its gradient,
// per pooling window: code is the position (0..3, in (0,0), (0,1), (1,0),
// (1,1) order) of the window's first maximum of z, plus 4 when that
// maximum is not positive (the ReLU passed nothing); sel is x there.
// Shared by the forward op and its two gradient ops, which run after it
// in the same run (they read its output's gradient).
type routes[T Float] struct {
	code []uint8
	sel  []T
}

// Routes holds the routes of one fused batch-norm/ReLU/pooling node, per
// dtype: BNReluPool fills it, BNPoolParamGrad and BNPoolInputGrad of the
// same node and run read it. Its zero value is ready to use; it is reused
// (grown, never shrunk) by every run.
type Routes struct {
	f32 routes[float32]
	f64 routes[float64]
}

func routesFor[T Float](b *Routes, n int) *routes[T] {
	var r any
	if _, ok := any(T(0)).(float32); ok {
		r = &b.f32
	} else {
		r = &b.f64
	}
	rt := r.(*routes[T])
	if cap(rt.code) < n {
		rt.code, rt.sel = make([]uint8, n), make([]T, n)
	}
	rt.code, rt.sel = rt.code[:n], rt.sel[:n]
	return rt
}

// b2i is 1 for true, 0 for false (a SETcc, no branch).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// reluPoolPlanes writes y = pool(relu(x·a + shift)) for the planes of
// one channel: x holds n planes of h×w, y n planes of (h/2)×(w/2).
func reluPoolPlanes[T Float](x, y []T, n, h, w int, a, sh T) {
	oh, ow := h/2, w/2
	for p := 0; p < n; p++ {
		img, out := x[p*h*w:(p+1)*h*w], y[p*oh*ow:(p+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			r0, r1 := img[2*oy*w:(2*oy+1)*w], img[(2*oy+1)*w:(2*oy+2)*w]
			o := out[oy*ow : (oy+1)*ow]
			for ox := range o {
				z0, z1 := r0[2*ox]*a+sh, r0[2*ox+1]*a+sh
				z2, z3 := r1[2*ox]*a+sh, r1[2*ox+1]*a+sh
				// builtin max is branch-free; ReLU output makes compare
				// and branch unpredictable
				o[ox] = max(max(z0, z1), max(z2, z3), 0)
			}
		}
	}
}

// BNReluPool writes y [C N H/2 W/2] = pool(relu(x·a + shift)) for x
// [C N H W], with training-mode batch norm from the statistics st [2 C]
// (a = γ/√(σ²+eps), shift = β − μ·a), and records each window's routes in
// rb for the gradients.
func BNReluPool[T Float](k *Kernels, x, st, gamma, beta, y []T, c, n, h, w int, rb *Routes) {
	m, om := n*h*w, n*(h/2)*(w/2)
	rt := routesFor[T](rb, c*om)
	k.parallelFor(c, func(_, ch int) {
		a, sh, _ := affine(st, gamma, beta, ch)
		routePlanes(k, x[ch*m:(ch+1)*m], y[ch*om:(ch+1)*om], rt.code[ch*om:(ch+1)*om], rt.sel[ch*om:(ch+1)*om], n, h, w, a, sh)
	})
}

// mask32 is all ones when ok, else zero; compiled without a branch.
func mask32(ok bool) uint32 {
	var m uint32
	if ok {
		m = 1
	}
	return -m
}

// BNPoolParamGrad writes out [2 C] = [dγ; dβ] (dγ = Σ dz·x̂, dβ = Σ dz per
// channel) for x [C N H W] given dy [C N H/2 W/2] and the routes BNReluPool
// left in rb.
func BNPoolParamGrad[T Float](k *Kernels, x, st, gamma, beta, dy, out []T, c, n, h, w int, rb *Routes) {
	om := n * (h / 2) * (w / 2)
	rt := routesFor[T](rb, c*om)
	k.parallelFor(c, func(_, ch int) {
		_, _, inv := affine(st, gamma, beta, ch)
		var sdz, sdzx float64 // Σ dz, Σ dz·x over windows that passed the ReLU
		code, sel, g := rt.code[ch*om:(ch+1)*om], rt.sel[ch*om:(ch+1)*om], dy[ch*om:(ch+1)*om]
		for i, cd := range code {
			gm := float64(g[i]) * float64(cd>>2^1) // 0 where nothing passed
			sdz += gm
			sdzx += gm * float64(sel[i])
		}
		out[ch] = T((sdzx - float64(st[ch])*sdz) * inv)
		out[c+ch] = T(sdz)
	})
}

// BNPoolInputGrad writes dx [C N H W] = a·dz − (dβ + x̂·dγ)·a/M, the
// input gradient through batch norm (with its batch statistics), ReLU and
// pooling, given dy [C N H/2 W/2], pg = [dγ; dβ] from BNPoolParamGrad and
// the routes BNReluPool left in rb.
func BNPoolInputGrad[T Float](ks *Kernels, x, st, gamma, beta, dy, pg, dx []T, c, n, h, w int, rb *Routes) {
	m, oh, ow := n*h*w, h/2, w/2
	om := n * oh * ow
	rt := routesFor[T](rb, c*om)
	ks.parallelFor(c, func(_, ch int) {
		_, _, inv := affine(st, gamma, beta, ch)
		k := float64(gamma[ch]) * inv
		mu, dgamma, dbeta := float64(st[ch]), float64(pg[ch]), float64(pg[c+ch])
		// dx = k·dz + (p·x + q), the x̂ term expanded: x̂ = (x − μ)·inv
		p := -k * dgamma * inv / float64(m)
		q := -k*dbeta/float64(m) + k*dgamma*inv*mu/float64(m)
		kt, pt, qt := T(k), T(p), T(q)
		xc, dxc := x[ch*m:(ch+1)*m], dx[ch*m:(ch+1)*m]
		code, g := rt.code[ch*om:(ch+1)*om], dy[ch*om:(ch+1)*om]
		if x32, ok := any(xc).([]float32); ok {
			ks.inputGradPlanes32(x32, any(dxc).([]float32), code, any(g).([]float32), n, h, w,
				float32(pt), float32(qt), float32(kt))
			return
		}
		for i, v := range xc {
			dxc[i] = v*pt + qt
		}
		for pl := 0; pl < n; pl++ {
			for oy := 0; oy < oh; oy++ {
				row := pl*h*w + 2*oy*w
				o := (pl*oh + oy) * ow
				for ox, cd := range code[o : o+ow] {
					if cd < 4 {
						dxc[row+2*ox+int(cd>>1)*w+int(cd&1)] += kt * g[o+ox]
					}
				}
			}
		}
	})
}

// AffineReluPool writes y [C N H/2 W/2] = pool(relu(x·a + shift)) for x
// [C N H W]: evaluation-mode batch norm folded into the per-channel a and
// shift sh, ReLU and 2×2 max-pooling.
func AffineReluPool[T Float](k *Kernels, x, a, sh, y []T, c, n, h, w int) {
	m, om := n*h*w, n*(h/2)*(w/2)
	k.parallelFor(c, func(_, ch int) {
		reluPoolPlanes(x[ch*m:(ch+1)*m], y[ch*om:(ch+1)*om], n, h, w, a[ch], sh[ch])
	})
}
