package cpu

import "github.com/fsl-project/fsl/model/cpu/internal/simd"

// Winograd F(2×2, 3×3) for the 3×3 convolutions whose input has many
// channels (blocks 2 and 3 of Conv-4): each 2×2 tile of output comes from
// a 4×4 tile of input with 16 multiplications per channel pair instead of
// 36, so the matrix products that dominate a training step shrink 2.25×
// and no patch matrix is built.
//
// With d a 4×4 input tile (pad 1: tile (ty, tx) starts at input row
// 2ty−1, column 2tx−1), g a 3×3 filter and ⊙ the element-wise product,
//
//	y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A
//
//	Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//	G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// is exactly the 2×2 correlation output im2col's convolution computes. The
// sum over input channels of each of the 16 element-wise products is a
// gemm, M[ξ] (F × tiles) = U[ξ] (F × C) · V[ξ] (C × tiles), for ξ the
// position in the 4×4 tile: U = G g Gᵀ per filter, V = Bᵀ d B per tile.
//
//   - forward and input gradient (convForward; the input gradient is a
//     convolution with flipped filters, conv.go) take V of the input
//     chunk by chunk, 16 gemms, then Y = Aᵀ M A cropped to the image;
//   - weight gradient: the transpose of that pipeline, dM = A dY Aᵀ,
//     dU[ξ] = Σ over tiles dM[ξ]·V[ξ]ᵀ, dW = Gᵀ dU G, with dM laid out
//     tile-major (winoOutputT) so the gemm reads it transposed.
//
// Chunks are whole images, as in conv.go, sized so one chunk's V and M
// stay in L2. The weight gradient's chunks add into minChunks fixed
// groups in chunk order, and the groups' partial sums are added in order,
// so the bits do not depend on how many goroutines ran. Results differ
// from im2col's in rounding only (float32: relative 1e-6 on typical
// activations; the tests bound it). The transforms run as AVX-512 plane
// kernels (images up to 14 wide), AVX2 blocks of 8 tiles, or Go, all
// giving the same bits (TestWinogradSIMDMatchesGoBitForBit).

// winogradMinChannels: convolutions with fewer input channels (the
// network's input) use im2col, whose gemm is then tiny and the transforms
// would not pay.
const winogradMinChannels = 16

// winogradMinSide: images smaller than this on either side use im2col.
// Measured at batch 60, 64 channels, one thread, forward and weight
// gradient: at 14×14 (block 2 at 28×28) Winograd takes 0.45–0.6× im2col's
// time; at 7×7 (block 3), where 16 tiles compute 64 outputs for 49, 0.6–0.75×
// with the AVX-512 transforms and 0.85× with AVX2 only; at 3×3 (block 4)
// four tiles compute 16 outputs for 9 and the transforms would not pay.
// The choice depends on shapes only, never on the CPU, so every machine
// computes the same bits. Kernels.winogradMinSide holds it so tests can
// run the transforms on small images.
const winogradMinSide = 4

// Winograd reports whether a convolution with c input channels over h×w
// images takes the Winograd path.
func (k *Kernels) Winograd(c, h, w int) bool {
	return k.useWinograd && c >= winogradMinChannels && h >= k.winogradMinSide && w >= k.winogradMinSide
}

// winoChunkValues is what one chunk's V (16 × C × tiles) aims at: 2^17
// float32 values, 512 KB, two 14×14 images of 64 channels. With M the same
// size, the filters U (256 KB) and the image, a chunk's transforms and
// gemms stay in a 2 MB L2; 2^18 measured slower, 2^16 starves the gemms
// (49 columns). Kernels.winoChunkValues holds it so benchmarks can compare.
const winoChunkValues = 1 << 17

// winoTiles returns the tile rows and columns of an h×w image.
func winoTiles(h, w int) (th, tw int) { return (h + 1) / 2, (w + 1) / 2 }

// winoChunking returns images per chunk and chunks for n images of h×w
// with k = max(input, output) channels.
func (ks *Kernels) winoChunking(n, h, w, k int) (per, chunks int) {
	th, tw := winoTiles(h, w)
	per = max(1, min(n, ks.winoChunkValues/(16*k*th*tw)))
	return per, (n + per - 1) / per
}

// winoFilters writes u [16][F][C] (planes us = winoStride(f, C) apart,
// out of each other's cache sets) = G g Gᵀ for every filter g of w
// [F C 3 3].
func winoFilters[T Float](w, u []T, f, c int) {
	us := winoStride(f, c)
	for fi := 0; fi < f; fi++ {
		for ci := 0; ci < c; ci++ {
			g := w[(fi*c+ci)*9 : (fi*c+ci)*9+9]
			var t [4][3]T // G g
			for j := 0; j < 3; j++ {
				g0, g1, g2 := g[j], g[3+j], g[6+j]
				t[0][j] = g0
				t[1][j] = (g0 + g1 + g2) / 2
				t[2][j] = (g0 - g1 + g2) / 2
				t[3][j] = g2
			}
			for i := 0; i < 4; i++ { // (G g) Gᵀ
				t0, t1, t2 := t[i][0], t[i][1], t[i][2]
				o := 4*i*us + fi*c + ci
				u[o] = t0
				u[o+us] = (t0 + t1 + t2) / 2
				u[o+2*us] = (t0 - t1 + t2) / 2
				u[o+3*us] = t2
			}
		}
	}
}

// winoFilterGrad writes dw [F C 3 3] = Gᵀ du G from du [16][F][C]
// (planes winoStride(f, C) apart).
func winoFilterGrad[T Float](du, dw []T, f, c int) {
	fc := winoStride(f, c)
	for fi := 0; fi < f; fi++ {
		for ci := 0; ci < c; ci++ {
			o := fi*c + ci
			var r [3][4]T // Gᵀ du
			for j := 0; j < 4; j++ {
				d0, d1, d2, d3 := du[j*fc+o], du[(4+j)*fc+o], du[(8+j)*fc+o], du[(12+j)*fc+o]
				r[0][j] = d0 + (d1+d2)/2
				r[1][j] = (d1 - d2) / 2
				r[2][j] = (d1+d2)/2 + d3
			}
			g := dw[o*9 : o*9+9]
			for i := 0; i < 3; i++ { // (Gᵀ du) G
				d0, d1, d2, d3 := r[i][0], r[i][1], r[i][2], r[i][3]
				g[3*i] = d0 + (d1+d2)/2
				g[3*i+1] = (d1 - d2) / 2
				g[3*i+2] = (d1+d2)/2 + d3
			}
		}
	}
}

// winoStride returns the distance between the ξ planes of a V or M
// buffer holding rows×nt values per plane: rows·nt plus 8 values of slack
// (the AVX2 kernels write whole blocks of 8 tiles), rounded up to whole
// 64-byte lines and then to an odd count of them, so the 16 planes a
// transform writes side by side fall in 16 different cache sets (at a
// power-of-two distance they would all share one set and evict each
// other).
func winoStride(rows, nt int) int {
	lines := (rows*nt + 8 + 15) / 16
	if lines%2 == 0 {
		lines++
	}
	return lines * 16
}

// winoBlocks calls f(start, lanes) to cover a row of n tiles: once with
// all n in Go (asm false), or with AVX2 blocks of 8 where the last block
// overlaps the one before, or, for n < 8, one block of 8 whose extra
// lanes compute garbage. Every caller writes planes in increasing tile
// order with 8 values of slack after each, so garbage lands on tiles still
// to be written or in the slack.
func winoBlocks(n int, asm bool, f func(start, lanes int)) {
	switch {
	case !asm:
		f(0, n)
	case n < 8:
		f(0, 8)
	default:
		simdBlocks(n, func(s int) { f(s, 8) })
	}
}

// winoRowLen is the length of one row of winoInput's split padded input
// (tw+1 columns) or of the per-row buffer of winoOutput (tw columns): at
// least 9, what one AVX2 block reads.
func winoRowLen(tw int) int { return max(tw+1, 9) }

// winoInput writes v [16][C][T] (planes s = winoStride(c, T) apart) =
// Bᵀ d B for the T tiles of images b0..b1-1 of x [C N H W] (tile t =
// (b−b0)·th·tw + ty·tw + tx). pe and po hold the padded image (pad 1)
// split into even and odd columns, (2th+2) rows of winoRowLen(tw) each
// plus 16 values of slack, zero on entry; their borders stay zero.
func winoInput[T Float](k *Kernels, x, v, pe, po []T, c, n, h, w, b0, b1 int) {
	th, tw := winoTiles(h, w)
	rs := winoRowLen(tw)
	nt := (b1 - b0) * th * tw
	s := winoStride(c, nt)
	asm := k.simd && isF32[T]()
	if asm && k.simd512 && w <= 14 {
		x32, v32 := any(x).([]float32), any(v).([]float32)
		for ch := 0; ch < c; ch++ {
			for b := b0; b < b1; b++ {
				simd.WinoInPlane(&x32[(ch*n+b)*h*w], h, w, &v32[ch*nt+(b-b0)*th*tw], s)
			}
		}
		return
	}
	for ch := 0; ch < c; ch++ {
		for b := b0; b < b1; b++ {
			plane := x[(ch*n+b)*h*w : (ch*n+b+1)*h*w]
			for y := 0; y < h; y++ {
				// input column xc is padded column xc+1
				row, e, o := plane[y*w:(y+1)*w], pe[(y+1)*rs:(y+2)*rs], po[(y+1)*rs:(y+2)*rs]
				for xc := 0; xc+1 < w; xc += 2 {
					o[xc/2], e[xc/2+1] = row[xc], row[xc+1]
				}
				if w%2 == 1 {
					o[w/2] = row[w-1]
				}
			}
			o := ch*nt + (b-b0)*th*tw
			for ty := 0; ty < th; ty++ {
				r0, t0 := 2*ty*rs, o+ty*tw
				winoBlocks(tw, asm, func(st, lanes int) {
					if lanes == 8 && asm {
						pe32, po32, v32 := any(pe).([]float32), any(po).([]float32), any(v).([]float32)
						simd.WinoIn8(&pe32[r0+st], &po32[r0+st], rs, &v32[t0+st], s)
						return
					}
					winoIn(pe[r0:], po[r0:], rs, v[t0:], s, lanes)
				})
			}
		}
	}
}

// winoIn is simd.WinoIn8 in Go for n tiles: the 4×4 input of tile l has
// row r at pe[r·rs+l], po[r·rs+l], pe[r·rs+l+1], po[r·rs+l+1]; its 16
// values go to dst[ξ·ds+l].
func winoIn[T Float](pe, po []T, rs int, dst []T, ds, n int) {
	rows := func(d [4]T) [4]T { return [4]T{d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]} }
	for l := 0; l < n; l++ {
		var e, f, o, p [4]T
		for r := 0; r < 4; r++ {
			e[r], f[r], o[r], p[r] = pe[r*rs+l], pe[r*rs+l+1], po[r*rs+l], po[r*rs+l+1]
		}
		se, sf, so, sp := rows(e), rows(f), rows(o), rows(p)
		for k := 0; k < 4; k++ {
			q := 4*k*ds + l
			dst[q], dst[q+ds], dst[q+2*ds], dst[q+3*ds] = se[k]-sf[k], so[k]+sf[k], sf[k]-so[k], so[k]-sp[k]
		}
	}
}

// winoOutput writes y [F N H W] for images b0..b1-1 from m [16][F][T]
// (planes winoStride(f, T) apart): each tile's Aᵀ M A, cropped to the
// image. rows holds 4·winoRowLen(tw) values.
func winoOutput[T Float](k *Kernels, m, y, rows []T, f, n, h, w, b0, b1 int) {
	th, tw := winoTiles(h, w)
	nt := (b1 - b0) * th * tw
	s, rs := winoStride(f, nt), winoRowLen(tw)
	asm := k.simd && isF32[T]()
	if asm && k.simd512 && w <= 14 {
		m32, y32 := any(m).([]float32), any(y).([]float32)
		for fi := 0; fi < f; fi++ {
			for b := b0; b < b1; b++ {
				simd.WinoOutPlane(&m32[fi*nt+(b-b0)*th*tw], s, &y32[(fi*n+b)*h*w], h, w)
			}
		}
		return
	}
	for fi := 0; fi < f; fi++ {
		for b := b0; b < b1; b++ {
			out := y[(fi*n+b)*h*w : (fi*n+b+1)*h*w]
			o := fi*nt + (b-b0)*th*tw
			for ty := 0; ty < th; ty++ {
				t0 := o + ty*tw
				winoBlocks(tw, asm, func(st, lanes int) {
					if lanes == 8 && asm {
						m32, r32 := any(m).([]float32), any(rows).([]float32)
						simd.WinoOut8(&m32[t0+st], s, &r32[st], rs)
						return
					}
					winoOut(m[t0:], s, rows, rs, lanes)
				})
				for i := 0; i < 2 && 2*ty+i < h; i++ { // interleave even and odd columns
					r := out[(2*ty+i)*w : (2*ty+i+1)*w]
					ev, od := rows[2*i*rs:2*i*rs+tw], rows[(2*i+1)*rs:(2*i+1)*rs+tw]
					for tx := 0; tx < w/2; tx++ {
						r[2*tx], r[2*tx+1] = ev[tx], od[tx]
					}
					if w%2 == 1 {
						r[w-1] = ev[tw-1]
					}
				}
			}
		}
	}
}

// winoOut is simd.WinoOut8 in Go for n tiles: tile l's 16 values at
// m[ξ·ms+l]; output row 0's even and odd columns to y[l], y[ys+l], row
// 1's to y[2ys+l], y[3ys+l].
func winoOut[T Float](m []T, ms int, y []T, ys, n int) {
	for l := 0; l < n; l++ {
		var a0, a1 [4]T
		for j := 0; j < 4; j++ {
			m0, m1, m2, m3 := m[j*ms+l], m[(4+j)*ms+l], m[(8+j)*ms+l], m[(12+j)*ms+l]
			a0[j], a1[j] = m0+m1+m2, m1-m2-m3
		}
		y[l], y[ys+l] = a0[0]+a0[1]+a0[2], a0[1]-a0[2]-a0[3]
		y[2*ys+l], y[3*ys+l] = a1[0]+a1[1]+a1[2], a1[1]-a1[2]-a1[3]
	}
}

// winoOutputT writes dm [16][T][F], tile-major (value ξ of tile t for
// filter f at ξ·s + t·F + f, s = winoStride(T, F)), = A dY Aᵀ per tile for
// images b0..b1-1 of dy [F N H W]: the transpose of winoOutput, outputs
// cropped away getting zero gradient. Tile-major makes the weight
// gradient's gemm dU = dM·Vᵀ read dM transposed, which OpenBLAS runs about
// twice as fast at these sizes as the same product with both operands
// tile-minor. With AVX-512 each pixel is gathered across 16 filters and a
// tile's values stored 16 filters at a time.
func winoOutputT[T Float](k *Kernels, dy, dm []T, f, n, h, w, b0, b1 int) {
	th, tw := winoTiles(h, w)
	nt := (b1 - b0) * th * tw
	s, hw := winoStride(nt, f), h*w
	if k.simd && k.simd512 && isF32[T]() && f%16 == 0 && 15*n*hw < 1<<31 {
		dy32, dm32 := any(dy).([]float32), any(dm).([]float32)
		var idx [16]int32 // the 16 filters' planes, in values
		for l := range idx {
			idx[l] = int32(l * n * hw)
		}
		for b := b0; b < b1; b++ {
			for ty := 0; ty < th; ty++ {
				t0 := (b-b0)*th*tw + ty*tw
				for f0 := 0; f0 < f; f0 += 16 {
					simd.WinoOutTGather(&dy32[(f0*n+b)*hw], &idx, h, w, ty, &dm32[t0*f+f0], s, f)
				}
			}
		}
		return
	}
	for b := b0; b < b1; b++ {
		for ty := 0; ty < th; ty++ {
			for tx := 0; tx < tw; tx++ {
				t, p := (b-b0)*th*tw+ty*tw+tx, 2*ty*w+2*tx
				col, row := 2*tx+1 < w, 2*ty+1 < h
				for fi := 0; fi < f; fi++ {
					g := dy[(fi*n+b)*hw : (fi*n+b+1)*hw]
					e0 := g[p]
					var o0, e1, o1 T
					if col {
						o0 = g[p+1]
					}
					if row {
						e1 = g[p+w]
						if col {
							o1 = g[p+w+1]
						}
					}
					// A g over rows, for the even (re) and odd (ro) column
					re := [4]T{e0, e0 + e1, e0 - e1, -e1}
					ro := [4]T{o0, o0 + o1, o0 - o1, -o1}
					q := t*f + fi
					for k := 0; k < 4; k++ { // (A g) Aᵀ
						dm[q+4*k*s], dm[q+(4*k+1)*s] = re[k], re[k]+ro[k]
						dm[q+(4*k+2)*s], dm[q+(4*k+3)*s] = re[k]-ro[k], -ro[k]
					}
				}
			}
		}
	}
}

// isF32 reports whether T is float32.
func isF32[T Float]() bool {
	var zero T
	_, ok := any(zero).(float32)
	return ok
}

// winoForward writes y [F N H W] = conv(x [C N H W], w [F C 3 3]) by
// Winograd (the caller checked winograd(c, h, w)).
func winoForward[T Float](k *Kernels, x, w, y []T, c, n, h, wd, f int) {
	us := winoStride(f, c)
	up := getScratch[T](16 * us)
	defer putScratch(up)
	u := *up
	winoFilters(w, u, f, c)
	th, tw := winoTiles(h, wd)
	per, chunks := k.winoChunking(n, h, wd, max(c, f))
	full := per * th * tw
	k.parallelFor(chunks, func(_, i int) {
		b0, b1 := i*per, min(n, (i+1)*per)
		nt := (b1 - b0) * th * tw
		sv, sm := winoStride(c, nt), winoStride(f, nt)
		vp, mp := getScratch[T](16*winoStride(c, full)), getScratch[T](16*winoStride(f, full))
		pe, po, rp := winoPad[T](th, tw), winoPad[T](th, tw), getScratch[T](4*winoRowLen(tw))
		defer putScratch(vp)
		defer putScratch(mp)
		defer putScratch(pe)
		defer putScratch(po)
		defer putScratch(rp)
		v, m := *vp, *mp
		winoInput(k, x, v, *pe, *po, c, n, h, wd, b0, b1)
		for xi := 0; xi < 16; xi++ {
			gemm(false, false, f, nt, c, u[xi*us:], c, v[xi*sv:], nt, false, m[xi*sm:], nt)
		}
		winoOutput(k, m, y, *rp, f, n, h, wd, b0, b1)
	})
}

// winoGradW writes dw [F C 3 3], the weight gradient of y = conv(x, w)
// given dy [F N H W], by Winograd.
func winoGradW[T Float](k *Kernels, x, dy, dw []T, c, n, h, wd, f int) {
	th, tw := winoTiles(h, wd)
	per, chunks := k.winoChunking(n, h, wd, max(c, f))
	full := per * th * tw
	us := winoStride(f, c)
	fc := 16 * us
	// chunks accumulate into their group's partial in chunk order (gemm
	// with accumulate); the minChunks groups are fixed by the shapes, so
	// the sums do not depend on the number of goroutines
	group := (chunks + minChunks - 1) / minChunks
	groups := (chunks + group - 1) / group
	partp := getScratch[T](groups * fc)
	defer putScratch(partp)
	part := *partp
	k.parallelFor(groups, func(_, g int) {
		vp, mp := getScratch[T](16*winoStride(c, full)), getScratch[T](16*winoStride(f, full))
		pe, po := winoPad[T](th, tw), winoPad[T](th, tw)
		defer putScratch(vp)
		defer putScratch(mp)
		defer putScratch(pe)
		defer putScratch(po)
		v, dm := *vp, *mp
		du := part[g*fc : (g+1)*fc]
		for i := g * group; i < min(chunks, (g+1)*group); i++ {
			b0, b1 := i*per, min(n, (i+1)*per)
			nt := (b1 - b0) * th * tw
			sv, sm := winoStride(c, nt), winoStride(nt, f)
			winoInput(k, x, v, *pe, *po, c, n, h, wd, b0, b1)
			winoOutputT(k, dy, dm, f, n, h, wd, b0, b1)
			for xi := 0; xi < 16; xi++ {
				gemm(true, true, f, c, nt, dm[xi*sm:], f, v[xi*sv:], nt, i > g*group, du[xi*us:], c)
			}
		}
	})
	du := part[:fc]
	sumParts(du, part, groups)
	winoFilterGrad(du, dw, f, c)
}

// winoPad returns a zeroed buffer for one column parity of a padded
// image split by winoInput: 2th+2 rows of winoRowLen(tw), plus slack for
// the last AVX2 block's reads.
func winoPad[T Float](th, tw int) *[]T {
	p := getScratch[T]((2*th+2)*winoRowLen(tw) + 16)
	clear(*p)
	return p
}
