//go:build !amd64

package simd

// Available is false off amd64: callers use their Go kernels.
const Available = false

// StatsLanes, Route and InputGrad exist only on amd64; see simd_amd64.go.
func StatsLanes(x *float32, blocks int, acc *[16]float64) { panic("simd: not available") }

func Route(r0, r1, y *float32, code *uint8, sel *float32, blocks int, a, sh float32) {
	panic("simd: not available")
}

func InputGrad(r0, r1, d0, d1 *float32, code *uint8, grad *float32, blocks int, p, q, k float32) {
	panic("simd: not available")
}

func WinoIn8(pe, po *float32, rs int, dst *float32, ds int) { panic("simd: not available") }

func WinoOut8(m *float32, ms int, y *float32, ys int) { panic("simd: not available") }

// Available512 is false off amd64.
const Available512 = false

func WinoInPlane(x *float32, h, w int, dst *float32, ds int) { panic("simd: not available") }

func WinoOutPlane(m *float32, ms int, y *float32, h, w int) { panic("simd: not available") }

func Conv1Fwd(x0, x1, x2 *float32, masks uint64, w *float32, f int, y *float32, ys int) {
	panic("simd: not available")
}

func Conv1GradW(x, dy *float32, h, w int, masks *uint64, zero *float32, acc *[144]float32) {
	panic("simd: not available")
}

func WinoOutTGather(gr *float32, idx *[16]int32, h, w, ty int, dst *float32, ds, dt int) {
	panic("simd: not available")
}
