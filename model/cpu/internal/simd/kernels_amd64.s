#include "textflag.h"

// AVX2 kernels of the batch-norm/ReLU/pooling ops of package model. Each
// computes bit for bit what its Go twin in model/simd.go computes: products and
// sums are separate (no FMA), in the same order.

// VPERMPS/VPERMD indices that repeat each of lanes 0-3 (lo) or 4-7 (hi)
// twice, and the pooling-window position of each element of the first
// (pos0: 0 1 0 1 ...) and second (pos1: 2 3 2 3 ...) row of a window pair.
DATA dupLo<>+0(SB)/4, $0
DATA dupLo<>+4(SB)/4, $0
DATA dupLo<>+8(SB)/4, $1
DATA dupLo<>+12(SB)/4, $1
DATA dupLo<>+16(SB)/4, $2
DATA dupLo<>+20(SB)/4, $2
DATA dupLo<>+24(SB)/4, $3
DATA dupLo<>+28(SB)/4, $3
GLOBL dupLo<>(SB), RODATA, $32
DATA dupHi<>+0(SB)/4, $4
DATA dupHi<>+4(SB)/4, $4
DATA dupHi<>+8(SB)/4, $5
DATA dupHi<>+12(SB)/4, $5
DATA dupHi<>+16(SB)/4, $6
DATA dupHi<>+20(SB)/4, $6
DATA dupHi<>+24(SB)/4, $7
DATA dupHi<>+28(SB)/4, $7
GLOBL dupHi<>(SB), RODATA, $32
DATA pos0<>+0(SB)/4, $0
DATA pos0<>+4(SB)/4, $1
DATA pos0<>+8(SB)/4, $0
DATA pos0<>+12(SB)/4, $1
DATA pos0<>+16(SB)/4, $0
DATA pos0<>+20(SB)/4, $1
DATA pos0<>+24(SB)/4, $0
DATA pos0<>+28(SB)/4, $1
GLOBL pos0<>(SB), RODATA, $32
DATA pos1<>+0(SB)/4, $2
DATA pos1<>+4(SB)/4, $3
DATA pos1<>+8(SB)/4, $2
DATA pos1<>+12(SB)/4, $3
DATA pos1<>+16(SB)/4, $2
DATA pos1<>+20(SB)/4, $3
DATA pos1<>+24(SB)/4, $2
DATA pos1<>+28(SB)/4, $3
GLOBL pos1<>(SB), RODATA, $32

// func StatsLanes(x *float32, blocks int, acc *[16]float64)
// acc[l] = Σ float64(x[8b+l]), acc[8+l] = Σ float64(x[8b+l])² over b.
TEXT ·StatsLanes(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVQ acc+16(FP), DI
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	TESTQ CX, CX
	JZ statsdone

statsloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VMULPD Y4, Y4, Y4
	VMULPD Y5, Y5, Y5
	VADDPD Y4, Y2, Y2
	VADDPD Y5, Y3, Y3
	ADDQ $32, SI
	DECQ CX
	JNZ statsloop

statsdone:
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func Route(r0, r1, y *float32, code *uint8, sel *float32, blocks int, a, sh float32)
// 8 windows per block: rows r0 and r1 hold 16 values each.
TEXT ·Route(SB), NOSPLIT, $0-56
	MOVQ r0+0(FP), SI
	MOVQ r1+8(FP), BX
	MOVQ y+16(FP), DI
	MOVQ code+24(FP), R9
	MOVQ sel+32(FP), R8
	MOVQ blocks+40(FP), CX
	VBROADCASTSS a+48(FP), Y15
	VBROADCASTSS sh+52(FP), Y14
	VXORPS Y13, Y13, Y13
	MOVL $1, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $4, AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11
	TESTQ CX, CX
	JZ routedone

routeloop:
	// x0 x1: even and odd columns of row 0; x2 x3: of row 1
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS (BX), Y0
	VMOVUPS 32(BX), Y1
	VSHUFPS $0x88, Y1, Y0, Y4
	VSHUFPS $0xDD, Y1, Y0, Y5
	VPERMPD $0xD8, Y4, Y4
	VPERMPD $0xD8, Y5, Y5
	// z = x·a + shift
	VMULPS Y15, Y2, Y6
	VADDPS Y14, Y6, Y6
	VMULPS Y15, Y3, Y7
	VADDPS Y14, Y7, Y7
	VMULPS Y15, Y4, Y8
	VADDPS Y14, Y8, Y8
	VMULPS Y15, Y5, Y9
	VADDPS Y14, Y9, Y9
	// first maximum within each row pair
	VCMPPS $14, Y6, Y7, Y0   // c01 = z1 > z0
	VMAXPS Y7, Y6, Y1        // m01
	VBLENDVPS Y0, Y3, Y2, Y2 // s01 = c01 ? x1 : x0
	VPAND Y12, Y0, Y0        // i01
	VCMPPS $14, Y8, Y9, Y3   // c23 = z3 > z2
	VMAXPS Y9, Y8, Y10       // m23
	VBLENDVPS Y3, Y5, Y4, Y4 // s23 = c23 ? x3 : x2
	VPAND Y12, Y3, Y3
	VPADDD Y12, Y3, Y3
	VPADDD Y12, Y3, Y3       // i23 = 2 + c23
	// then between the rows
	VCMPPS $14, Y1, Y10, Y6  // top = m23 > m01
	VBLENDVPS Y6, Y4, Y2, Y2 // sel
	VBLENDVPS Y6, Y3, Y0, Y0 // at
	VBLENDVPS Y6, Y10, Y1, Y1 // m
	VCMPPS $14, Y13, Y1, Y7  // m > 0
	VPANDN Y11, Y7, Y7       // 4 where not
	VPOR Y7, Y0, Y0          // code
	VMAXPS Y13, Y1, Y1       // y = max(m, 0)
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, (R8)
	VEXTRACTI128 $1, Y0, X5
	VPACKUSDW X5, X0, X0
	VPACKUSWB X0, X0, X0
	MOVQ X0, (R9)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $8, R9
	DECQ CX
	JNZ routeloop

routedone:
	VZEROUPPER
	RET

// func InputGrad(r0, r1, d0, d1 *float32, code *uint8, grad *float32, blocks int, p, q, k float32)
// d = x·p + q, plus k·g at each window's routed position (code 0..3).
TEXT ·InputGrad(SB), NOSPLIT, $0-68
	MOVQ r0+0(FP), SI
	MOVQ r1+8(FP), BX
	MOVQ d0+16(FP), DI
	MOVQ d1+24(FP), DX
	MOVQ code+32(FP), R9
	MOVQ grad+40(FP), R10
	MOVQ blocks+48(FP), CX
	VBROADCASTSS p+56(FP), Y15
	VBROADCASTSS q+60(FP), Y14
	VBROADCASTSS k+64(FP), Y13
	VMOVDQU dupLo<>(SB), Y12
	VMOVDQU dupHi<>(SB), Y11
	VMOVDQU pos0<>(SB), Y10
	VMOVDQU pos1<>(SB), Y9
	TESTQ CX, CX
	JZ igdone

igloop:
	VPMOVZXBD (R9), Y0       // codes of 8 windows
	VMOVUPS (R10), Y1
	VMULPS Y13, Y1, Y1       // kg
	VPERMD Y0, Y12, Y2       // codes, each twice: windows 0-3
	VPERMD Y0, Y11, Y3       // windows 4-7
	VPERMPS Y1, Y12, Y4      // kg, each twice
	VPERMPS Y1, Y11, Y5
	// row 0, elements 0-7 then 8-15
	VMOVUPS (SI), Y6
	VMULPS Y15, Y6, Y6
	VADDPS Y14, Y6, Y6
	VPCMPEQD Y10, Y2, Y7
	VANDPS Y4, Y7, Y7
	VADDPS Y7, Y6, Y6
	VMOVUPS Y6, (DI)
	VMOVUPS 32(SI), Y6
	VMULPS Y15, Y6, Y6
	VADDPS Y14, Y6, Y6
	VPCMPEQD Y10, Y3, Y7
	VANDPS Y5, Y7, Y7
	VADDPS Y7, Y6, Y6
	VMOVUPS Y6, 32(DI)
	// row 1
	VMOVUPS (BX), Y6
	VMULPS Y15, Y6, Y6
	VADDPS Y14, Y6, Y6
	VPCMPEQD Y9, Y2, Y7
	VANDPS Y4, Y7, Y7
	VADDPS Y7, Y6, Y6
	VMOVUPS Y6, (DX)
	VMOVUPS 32(BX), Y6
	VMULPS Y15, Y6, Y6
	VADDPS Y14, Y6, Y6
	VPCMPEQD Y9, Y3, Y7
	VANDPS Y5, Y7, Y7
	VADDPS Y7, Y6, Y6
	VMOVUPS Y6, 32(DX)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $8, R9
	ADDQ $32, R10
	DECQ CX
	JNZ igloop

igdone:
	VZEROUPPER
	RET

// Winograd F(2×2, 3×3) transforms of package model (winograd.go), eight
// tiles per call. Each is the exact order of adds and subtracts of its Go
// twin in model/winograd.go; negation flips the sign bit, as Go's does.

DATA signBit<>+0(SB)/4, $0x80000000
GLOBL signBit<>(SB), RODATA, $4

// func WinoIn8(pe, po *float32, rs int, dst *float32, ds int)
// Input tiles: rows r = 0..3 of the tiles' padded input, even columns at
// pe+r·rs (E, and E shifted by one: F), odd at po+r·rs (O, and P).
// Row step k of Bᵀ d (d0−d2, d1+d2, d2−d1, d1−d3 over rows) for each of
// E F O P, then the column step: planes 4k..4k+3 at dst + (4k+j)·ds get
// E−F, O+F, F−O, O−P.
TEXT ·WinoIn8(SB), NOSPLIT, $0-40
	MOVQ pe+0(FP), SI
	MOVQ po+8(FP), DI
	MOVQ rs+16(FP), CX
	SHLQ $2, CX
	MOVQ dst+24(FP), DX
	MOVQ ds+32(FP), R8
	SHLQ $2, R8
	LEAQ (SI)(CX*1), R9
	LEAQ (SI)(CX*2), R10
	LEAQ (R9)(CX*2), R11
	LEAQ (DI)(CX*1), R12
	LEAQ (DI)(CX*2), R13
	LEAQ (R12)(CX*2), BX

	// k = 0: row 0 − row 2
	VMOVUPS (SI), Y0
	VSUBPS (R10), Y0, Y0
	VMOVUPS 4(SI), Y1
	VSUBPS 4(R10), Y1, Y1
	VMOVUPS (DI), Y2
	VSUBPS (R13), Y2, Y2
	VMOVUPS 4(DI), Y3
	VSUBPS 4(R13), Y3, Y3
	CALL winoInCols<>(SB)

	// k = 1: row 1 + row 2
	VMOVUPS (R9), Y0
	VADDPS (R10), Y0, Y0
	VMOVUPS 4(R9), Y1
	VADDPS 4(R10), Y1, Y1
	VMOVUPS (R12), Y2
	VADDPS (R13), Y2, Y2
	VMOVUPS 4(R12), Y3
	VADDPS 4(R13), Y3, Y3
	CALL winoInCols<>(SB)

	// k = 2: row 2 − row 1
	VMOVUPS (R10), Y0
	VSUBPS (R9), Y0, Y0
	VMOVUPS 4(R10), Y1
	VSUBPS 4(R9), Y1, Y1
	VMOVUPS (R13), Y2
	VSUBPS (R12), Y2, Y2
	VMOVUPS 4(R13), Y3
	VSUBPS 4(R12), Y3, Y3
	CALL winoInCols<>(SB)

	// k = 3: row 1 − row 3
	VMOVUPS (R9), Y0
	VSUBPS (R11), Y0, Y0
	VMOVUPS 4(R9), Y1
	VSUBPS 4(R11), Y1, Y1
	VMOVUPS (R12), Y2
	VSUBPS (BX), Y2, Y2
	VMOVUPS 4(R12), Y3
	VSUBPS 4(BX), Y3, Y3
	CALL winoInCols<>(SB)

	VZEROUPPER
	RET

// winoInCols: the column step of WinoIn8 for Y0..Y3 = E F O P of one row
// step; stores four planes at DX, DX+R8, ... and leaves DX after them.
TEXT winoInCols<>(SB), NOSPLIT|NOFRAME, $0-0
	VSUBPS Y1, Y0, Y4
	VADDPS Y1, Y2, Y5
	VSUBPS Y2, Y1, Y6
	VSUBPS Y3, Y2, Y7
	VMOVUPS Y4, (DX)
	ADDQ R8, DX
	VMOVUPS Y5, (DX)
	ADDQ R8, DX
	VMOVUPS Y6, (DX)
	ADDQ R8, DX
	VMOVUPS Y7, (DX)
	ADDQ R8, DX
	RET

// func WinoOut8(m *float32, ms int, y *float32, ys int)
// Output tiles from the 16 planes m + (4i+j)·ms: Aᵀ M (a0 = (m0+m1)+m2,
// a1 = (m1−m2)−m3 over i, for each column j), then (Aᵀ M) A: output row
// r's even columns (ar0+ar1)+ar2 to y + 2r·ys, odd (ar1−ar2)−ar3 to
// y + (2r+1)·ys.
TEXT ·WinoOut8(SB), NOSPLIT, $0-32
	MOVQ m+0(FP), SI
	MOVQ ms+8(FP), CX
	SHLQ $2, CX
	MOVQ y+16(FP), DI
	MOVQ ys+24(FP), R8
	SHLQ $2, R8
	LEAQ (SI)(CX*4), R9
	LEAQ (R9)(CX*4), R10
	LEAQ (R10)(CX*4), R11

	VMOVUPS (SI), Y0
	VADDPS (R9), Y0, Y0
	VADDPS (R10), Y0, Y0
	VMOVUPS (R9), Y4
	VSUBPS (R10), Y4, Y4
	VSUBPS (R11), Y4, Y4
	ADDQ CX, SI
	ADDQ CX, R9
	ADDQ CX, R10
	ADDQ CX, R11
	VMOVUPS (SI), Y1
	VADDPS (R9), Y1, Y1
	VADDPS (R10), Y1, Y1
	VMOVUPS (R9), Y5
	VSUBPS (R10), Y5, Y5
	VSUBPS (R11), Y5, Y5
	ADDQ CX, SI
	ADDQ CX, R9
	ADDQ CX, R10
	ADDQ CX, R11
	VMOVUPS (SI), Y2
	VADDPS (R9), Y2, Y2
	VADDPS (R10), Y2, Y2
	VMOVUPS (R9), Y6
	VSUBPS (R10), Y6, Y6
	VSUBPS (R11), Y6, Y6
	ADDQ CX, SI
	ADDQ CX, R9
	ADDQ CX, R10
	ADDQ CX, R11
	VMOVUPS (SI), Y3
	VADDPS (R9), Y3, Y3
	VADDPS (R10), Y3, Y3
	VMOVUPS (R9), Y7
	VSUBPS (R10), Y7, Y7
	VSUBPS (R11), Y7, Y7

	VADDPS Y1, Y0, Y8
	VADDPS Y2, Y8, Y8
	VSUBPS Y2, Y1, Y9
	VSUBPS Y3, Y9, Y9
	VADDPS Y5, Y4, Y10
	VADDPS Y6, Y10, Y10
	VSUBPS Y6, Y5, Y11
	VSUBPS Y7, Y11, Y11
	VMOVUPS Y8, (DI)
	ADDQ R8, DI
	VMOVUPS Y9, (DI)
	ADDQ R8, DI
	VMOVUPS Y10, (DI)
	ADDQ R8, DI
	VMOVUPS Y11, (DI)
	VZEROUPPER
	RET

// AVX-512 versions for images at most 14 wide: a padded row (16 values)
// fits one Z register, so whole planes are transformed without the split
// into even and odd columns, eight (at most seven) tiles per row step.

// VPERMPS indices: lane i takes element 2i (even), 2i+1 (odd), 2i+2
// (even shifted) or 2i+3 (odd shifted), mod 16; only lanes < 8 are used.
// weave: VPERMT2PS index interleaving two registers (lane 2i from the
// first's lane i, lane 2i+1 from the second's).
DATA idxEven<>+0(SB)/4, $0
DATA idxEven<>+4(SB)/4, $2
DATA idxEven<>+8(SB)/4, $4
DATA idxEven<>+12(SB)/4, $6
DATA idxEven<>+16(SB)/4, $8
DATA idxEven<>+20(SB)/4, $10
DATA idxEven<>+24(SB)/4, $12
DATA idxEven<>+28(SB)/4, $14
DATA idxEven<>+32(SB)/4, $0
DATA idxEven<>+36(SB)/4, $0
DATA idxEven<>+40(SB)/4, $0
DATA idxEven<>+44(SB)/4, $0
DATA idxEven<>+48(SB)/4, $0
DATA idxEven<>+52(SB)/4, $0
DATA idxEven<>+56(SB)/4, $0
DATA idxEven<>+60(SB)/4, $0
GLOBL idxEven<>(SB), RODATA, $64
DATA idxOdd<>+0(SB)/4, $1
DATA idxOdd<>+4(SB)/4, $3
DATA idxOdd<>+8(SB)/4, $5
DATA idxOdd<>+12(SB)/4, $7
DATA idxOdd<>+16(SB)/4, $9
DATA idxOdd<>+20(SB)/4, $11
DATA idxOdd<>+24(SB)/4, $13
DATA idxOdd<>+28(SB)/4, $15
DATA idxOdd<>+32(SB)/4, $0
DATA idxOdd<>+36(SB)/4, $0
DATA idxOdd<>+40(SB)/4, $0
DATA idxOdd<>+44(SB)/4, $0
DATA idxOdd<>+48(SB)/4, $0
DATA idxOdd<>+52(SB)/4, $0
DATA idxOdd<>+56(SB)/4, $0
DATA idxOdd<>+60(SB)/4, $0
GLOBL idxOdd<>(SB), RODATA, $64
DATA idxEven2<>+0(SB)/4, $2
DATA idxEven2<>+4(SB)/4, $4
DATA idxEven2<>+8(SB)/4, $6
DATA idxEven2<>+12(SB)/4, $8
DATA idxEven2<>+16(SB)/4, $10
DATA idxEven2<>+20(SB)/4, $12
DATA idxEven2<>+24(SB)/4, $14
DATA idxEven2<>+28(SB)/4, $0
DATA idxEven2<>+32(SB)/4, $0
DATA idxEven2<>+36(SB)/4, $0
DATA idxEven2<>+40(SB)/4, $0
DATA idxEven2<>+44(SB)/4, $0
DATA idxEven2<>+48(SB)/4, $0
DATA idxEven2<>+52(SB)/4, $0
DATA idxEven2<>+56(SB)/4, $0
DATA idxEven2<>+60(SB)/4, $0
GLOBL idxEven2<>(SB), RODATA, $64
DATA idxOdd2<>+0(SB)/4, $3
DATA idxOdd2<>+4(SB)/4, $5
DATA idxOdd2<>+8(SB)/4, $7
DATA idxOdd2<>+12(SB)/4, $9
DATA idxOdd2<>+16(SB)/4, $11
DATA idxOdd2<>+20(SB)/4, $13
DATA idxOdd2<>+24(SB)/4, $15
DATA idxOdd2<>+28(SB)/4, $0
DATA idxOdd2<>+32(SB)/4, $0
DATA idxOdd2<>+36(SB)/4, $0
DATA idxOdd2<>+40(SB)/4, $0
DATA idxOdd2<>+44(SB)/4, $0
DATA idxOdd2<>+48(SB)/4, $0
DATA idxOdd2<>+52(SB)/4, $0
DATA idxOdd2<>+56(SB)/4, $0
DATA idxOdd2<>+60(SB)/4, $0
GLOBL idxOdd2<>(SB), RODATA, $64
DATA weave<>+0(SB)/4, $0
DATA weave<>+4(SB)/4, $16
DATA weave<>+8(SB)/4, $1
DATA weave<>+12(SB)/4, $17
DATA weave<>+16(SB)/4, $2
DATA weave<>+20(SB)/4, $18
DATA weave<>+24(SB)/4, $3
DATA weave<>+28(SB)/4, $19
DATA weave<>+32(SB)/4, $4
DATA weave<>+36(SB)/4, $20
DATA weave<>+40(SB)/4, $5
DATA weave<>+44(SB)/4, $21
DATA weave<>+48(SB)/4, $6
DATA weave<>+52(SB)/4, $22
DATA weave<>+56(SB)/4, $7
DATA weave<>+60(SB)/4, $23
GLOBL weave<>(SB), RODATA, $64

// WIN_COLS512 is WinoInPlane's column step for one row step S: the even,
// shifted even, odd and shifted odd columns (E F O P) permuted out of S,
// then E−F, O+F, F−O, O−P stored (mask K2) to SI, SI+R8, ... with SI
// left after them.
#define WIN_COLS512(S) \
	VPERMPS S, Z20, Z8 \
	VPERMPS S, Z21, Z9 \
	VPERMPS S, Z22, Z10 \
	VPERMPS S, Z23, Z11 \
	VSUBPS Z9, Z8, Z12 \
	VADDPS Z9, Z10, Z13 \
	VSUBPS Z10, Z9, Z14 \
	VSUBPS Z11, Z10, Z15 \
	VMOVUPS Z12, K2, (SI) \
	ADDQ R8, SI \
	VMOVUPS Z13, K2, (SI) \
	ADDQ R8, SI \
	VMOVUPS Z14, K2, (SI) \
	ADDQ R8, SI \
	VMOVUPS Z15, K2, (SI) \
	ADDQ R8, SI

// func WinoInPlane(x *float32, h, w int, dst *float32, ds int)
// Bᵀ d B of every tile of one h×w plane (w ≤ 14): tile t = ty·tw + tx
// to dst + ξ·ds + t. Row ty loads input rows 2ty−1..2ty+2 into lanes
// 1..w (lanes 0 and w+1.. and rows outside the image read as zero: the
// padding), takes the row step on whole rows, then splits columns.
TEXT ·WinoInPlane(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ h+8(FP), BX
	MOVQ w+16(FP), CX
	MOVQ dst+24(FP), DI
	MOVQ ds+32(FP), R8
	SHLQ $2, R8
	LEAQ 0(CX*4), R13          // input row, bytes
	MOVQ $1, R12
	SHLQ CX, R12
	DECQ R12
	SHLQ $1, R12               // load mask: lanes 1..w
	KMOVW R12, K4
	LEAQ 1(CX), R9
	SHRQ $1, R9                // tw
	MOVQ $1, AX
	MOVQ R9, CX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K2               // store mask: lanes 0..tw-1
	SHLQ $2, R9                // tw, bytes
	MOVQ SI, R11
	SUBQ R13, R11
	SUBQ $4, R11               // row −1, column −1
	MOVQ $-1, DX               // y of the tile row's first input row
	VMOVUPS idxEven<>(SB), Z20
	VMOVUPS idxEven2<>(SB), Z21
	VMOVUPS idxOdd<>(SB), Z22
	VMOVUPS idxOdd2<>(SB), Z23

wiploop:
	// rows 2ty−1 .. 2ty+2 all inside the image: one mask for every row
	TESTQ DX, DX
	JL wipedge
	LEAQ 3(DX), AX
	CMPQ AX, BX
	JGE wipedge
	VMOVUPS.Z (R11), K4, Z0
	VMOVUPS.Z (R11)(R13*1), K4, Z1
	LEAQ (R11)(R13*2), SI
	VMOVUPS.Z (SI), K4, Z2
	VMOVUPS.Z (SI)(R13*1), K4, Z3
	JMP wiprows

wipedge:
	// first or last tile row: rows outside the image read as zero
	XORQ AX, AX
	CMPQ DX, BX
	CMOVQCS R12, AX
	KMOVW AX, K3
	VMOVUPS.Z (R11), K3, Z0
	LEAQ 1(DX), CX
	XORQ AX, AX
	CMPQ CX, BX
	CMOVQCS R12, AX
	KMOVW AX, K3
	VMOVUPS.Z (R11)(R13*1), K3, Z1
	LEAQ (R11)(R13*2), SI
	LEAQ 2(DX), CX
	XORQ AX, AX
	CMPQ CX, BX
	CMOVQCS R12, AX
	KMOVW AX, K3
	VMOVUPS.Z (SI), K3, Z2
	LEAQ 3(DX), CX
	XORQ AX, AX
	CMPQ CX, BX
	CMOVQCS R12, AX
	KMOVW AX, K3
	VMOVUPS.Z (SI)(R13*1), K3, Z3

wiprows:
	VSUBPS Z2, Z0, Z4          // d0 − d2
	VADDPS Z2, Z1, Z5          // d1 + d2
	VSUBPS Z1, Z2, Z6          // d2 − d1
	VSUBPS Z3, Z1, Z7          // d1 − d3

	MOVQ DI, SI
	WIN_COLS512(Z4)
	WIN_COLS512(Z5)
	WIN_COLS512(Z6)
	WIN_COLS512(Z7)

	LEAQ (R11)(R13*2), R11
	ADDQ R9, DI
	ADDQ $2, DX
	LEAQ 1(DX), AX
	CMPQ AX, BX                // next tile row's first output row 2ty < h
	JLT wiploop
	VZEROUPPER
	RET

// func WinoOutPlane(m *float32, ms int, y *float32, h, w int)
// Aᵀ M A of every tile of one h×w output plane (w ≤ 14) from the 16
// planes m + ξ·ms (tile t = ty·tw + tx), interleaved and cropped into y.
TEXT ·WinoOutPlane(SB), NOSPLIT, $0-40
	MOVQ m+0(FP), SI
	MOVQ ms+8(FP), CX
	SHLQ $2, CX
	MOVQ y+16(FP), DI
	MOVQ h+24(FP), BX
	MOVQ w+32(FP), R8
	MOVQ $1, AX
	MOVQ CX, R13               // (CX is the shift count below)
	MOVQ R8, CX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1               // row mask: lanes 0..w-1
	LEAQ 1(R8), R12
	SHRQ $1, R12               // tw
	MOVQ $1, AX
	MOVQ R12, CX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K2               // tile mask: lanes 0..tw-1
	MOVQ R13, CX               // ms, bytes
	SHLQ $2, R12               // tw, bytes
	SHLQ $2, R8                // output row, bytes
	LEAQ (CX)(CX*2), R13       // 3·ms
	LEAQ (SI)(CX*4), R9        // planes 4..7
	LEAQ (R9)(CX*4), R10       // 8..11
	LEAQ (R10)(CX*4), R11      // 12..15
	VMOVUPS weave<>(SB), Z24
	MOVQ $1, DX                // output row 2ty+1

wopLoop:
	VMOVUPS.Z (SI), K2, Z8
	VMOVUPS.Z (R9), K2, Z9
	VMOVUPS.Z (R10), K2, Z10
	VMOVUPS.Z (R11), K2, Z11
	VADDPS Z9, Z8, Z0
	VADDPS Z10, Z0, Z0         // a00 = (m00 + m10) + m20
	VSUBPS Z10, Z9, Z4
	VSUBPS Z11, Z4, Z4         // a10 = (m10 − m20) − m30
	VMOVUPS.Z (SI)(CX*1), K2, Z8
	VMOVUPS.Z (R9)(CX*1), K2, Z9
	VMOVUPS.Z (R10)(CX*1), K2, Z10
	VMOVUPS.Z (R11)(CX*1), K2, Z11
	VADDPS Z9, Z8, Z1
	VADDPS Z10, Z1, Z1
	VSUBPS Z10, Z9, Z5
	VSUBPS Z11, Z5, Z5
	VMOVUPS.Z (SI)(CX*2), K2, Z8
	VMOVUPS.Z (R9)(CX*2), K2, Z9
	VMOVUPS.Z (R10)(CX*2), K2, Z10
	VMOVUPS.Z (R11)(CX*2), K2, Z11
	VADDPS Z9, Z8, Z2
	VADDPS Z10, Z2, Z2
	VSUBPS Z10, Z9, Z6
	VSUBPS Z11, Z6, Z6
	VMOVUPS.Z (SI)(R13*1), K2, Z8
	VMOVUPS.Z (R9)(R13*1), K2, Z9
	VMOVUPS.Z (R10)(R13*1), K2, Z10
	VMOVUPS.Z (R11)(R13*1), K2, Z11
	VADDPS Z9, Z8, Z3
	VADDPS Z10, Z3, Z3
	VSUBPS Z10, Z9, Z7
	VSUBPS Z11, Z7, Z7

	VADDPS Z1, Z0, Z8
	VADDPS Z2, Z8, Z8          // row 0, even columns
	VSUBPS Z2, Z1, Z9
	VSUBPS Z3, Z9, Z9          // row 0, odd
	VADDPS Z5, Z4, Z10
	VADDPS Z6, Z10, Z10        // row 1, even
	VSUBPS Z6, Z5, Z11
	VSUBPS Z7, Z11, Z11        // row 1, odd
	VPERMT2PS Z9, Z24, Z8
	VMOVUPS Z8, K1, (DI)
	CMPQ DX, BX
	JGE wopnorow1
	VPERMT2PS Z11, Z24, Z10
	VMOVUPS Z10, K1, (DI)(R8*1)

wopnorow1:
	ADDQ R12, SI
	ADDQ R12, R9
	ADDQ R12, R10
	ADDQ R12, R11
	LEAQ (DI)(R8*2), DI
	ADDQ $2, DX
	LEAQ -1(DX), AX
	CMPQ AX, BX                // next tile row's first output row < h
	JLT wopLoop
	VZEROUPPER
	RET

// Direct 3×3 convolution of a one-channel input (the network's first
// layer), AVX-512, 16 output columns per register. Products and sums are
// separate instructions (no FMA) in a fixed order, so model's Go
// reference in conv1_test.go gives the same bits.

// func Conv1Fwd(x0, x1, x2 *float32, masks uint64, w *float32, f int, y *float32, ys int)
// One segment of ≤16 output columns of one row, for f filters: x0, x1,
// x2 point at the segment's first column in input rows r−1, r, r+1;
// masks holds three 16-bit lane masks (columns −1, 0, +1 inside the
// image; the middle one is also the store mask). Filter fi's output
// ((…(w0·X0 + w1·X1) + …) + w8·X8), X taken row by row, column −1, 0, +1,
// goes to y + fi·ys.
TEXT ·Conv1Fwd(SB), NOSPLIT, $0-64
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ x2+16(FP), DX
	MOVQ masks+24(FP), AX
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	SHRQ $16, AX
	KMOVW AX, K3
	MOVQ w+32(FP), R8
	MOVQ f+40(FP), CX
	MOVQ y+48(FP), R9
	MOVQ ys+56(FP), R10
	SHLQ $2, R10
	VMOVUPS.Z -4(SI), K1, Z0
	VMOVUPS.Z (SI), K2, Z1
	VMOVUPS.Z 4(SI), K3, Z2
	VMOVUPS.Z -4(DI), K1, Z3
	VMOVUPS.Z (DI), K2, Z4
	VMOVUPS.Z 4(DI), K3, Z5
	VMOVUPS.Z -4(DX), K1, Z6
	VMOVUPS.Z (DX), K2, Z7
	VMOVUPS.Z 4(DX), K3, Z8
	TESTQ CX, CX
	JZ c1fdone

c1floop:
	VBROADCASTSS (R8), Z11
	VMULPS Z11, Z0, Z9
	VBROADCASTSS 4(R8), Z11
	VMULPS Z11, Z1, Z10
	VADDPS Z10, Z9, Z9
	VBROADCASTSS 8(R8), Z11
	VMULPS Z11, Z2, Z10
	VADDPS Z10, Z9, Z9
	VBROADCASTSS 12(R8), Z11
	VMULPS Z11, Z3, Z10
	VADDPS Z10, Z9, Z9
	VBROADCASTSS 16(R8), Z11
	VMULPS Z11, Z4, Z10
	VADDPS Z10, Z9, Z9
	VBROADCASTSS 20(R8), Z11
	VMULPS Z11, Z5, Z10
	VADDPS Z10, Z9, Z9
	VBROADCASTSS 24(R8), Z11
	VMULPS Z11, Z6, Z10
	VADDPS Z10, Z9, Z9
	VBROADCASTSS 28(R8), Z11
	VMULPS Z11, Z7, Z10
	VADDPS Z10, Z9, Z9
	VBROADCASTSS 32(R8), Z11
	VMULPS Z11, Z8, Z10
	VADDPS Z10, Z9, Z9
	VMOVUPS Z9, K2, (R9)
	ADDQ $36, R8
	ADDQ R10, R9
	DECQ CX
	JNZ c1floop

c1fdone:
	VZEROUPPER
	RET

// func Conv1GradW(x, dy *float32, h, w int, masks *uint64, zero *float32, acc *[144]float32)
// Adds, lane by lane, dy·X_k over every segment of every row of one h×w
// plane to acc[16k:16k+16] (k = 3·row offset + column offset, as in
// Conv1Fwd): segment s covers columns 16s.., its three lane masks packed
// in masks[8s] (entries 64 bytes apart); rows outside the plane read from
// zero (at least 16·⌈w/16⌉+2 zeros, the pointer one past the first).
// Dead lanes read zero and add ±0.
TEXT ·Conv1GradW(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ h+16(FP), BX
	MOVQ w+24(FP), R8
	LEAQ 15(R8), R12
	SHRQ $4, R12
	SHLQ $6, R12               // segments × 64 bytes
	SHLQ $2, R8                // row, bytes
	MOVQ masks+32(FP), R9
	MOVQ zero+40(FP), R10
	MOVQ acc+48(FP), R11
	VMOVUPS (R11), Z0
	VMOVUPS 64(R11), Z1
	VMOVUPS 128(R11), Z2
	VMOVUPS 192(R11), Z3
	VMOVUPS 256(R11), Z4
	VMOVUPS 320(R11), Z5
	VMOVUPS 384(R11), Z6
	VMOVUPS 448(R11), Z7
	VMOVUPS 512(R11), Z8
	XORQ CX, CX
	TESTQ BX, BX
	JZ c1wdone

c1wrow:
	MOVQ SI, AX
	SUBQ R8, AX
	TESTQ CX, CX
	CMOVQEQ R10, AX            // row r−1, or zeros
	LEAQ (SI)(R8*1), R13
	LEAQ 1(CX), R11
	CMPQ R11, BX
	CMOVQGE R10, R13           // row r+1, or zeros
	XORQ DX, DX

c1wseg:
	MOVQ (R9)(DX*1), R11
	KMOVW R11, K1
	SHRQ $16, R11
	KMOVW R11, K2
	SHRQ $16, R11
	KMOVW R11, K3
	VMOVUPS.Z (DI)(DX*1), K2, Z9
	VMOVUPS.Z -4(AX)(DX*1), K1, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z0, Z0
	VMOVUPS.Z (AX)(DX*1), K2, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z1, Z1
	VMOVUPS.Z 4(AX)(DX*1), K3, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z2, Z2
	VMOVUPS.Z -4(SI)(DX*1), K1, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z3, Z3
	VMOVUPS.Z (SI)(DX*1), K2, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z4, Z4
	VMOVUPS.Z 4(SI)(DX*1), K3, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z5, Z5
	VMOVUPS.Z -4(R13)(DX*1), K1, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z6, Z6
	VMOVUPS.Z (R13)(DX*1), K2, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z7, Z7
	VMOVUPS.Z 4(R13)(DX*1), K3, Z10
	VMULPS Z10, Z9, Z10
	VADDPS Z10, Z8, Z8
	ADDQ $64, DX
	CMPQ DX, R12
	JLT c1wseg

	ADDQ R8, SI
	ADDQ R8, DI
	INCQ CX
	CMPQ CX, BX
	JLT c1wrow

c1wdone:
	MOVQ acc+48(FP), R11
	VMOVUPS Z0, (R11)
	VMOVUPS Z1, 64(R11)
	VMOVUPS Z2, 128(R11)
	VMOVUPS Z3, 192(R11)
	VMOVUPS Z4, 256(R11)
	VMOVUPS Z5, 320(R11)
	VMOVUPS Z6, 384(R11)
	VMOVUPS Z7, 448(R11)
	VMOVUPS Z8, 512(R11)
	VZEROUPPER
	RET

// func WinoOutTGather(gr *float32, idx *[16]int32, h, w, ty int, dst *float32, ds, dt int)
// The weight-gradient output transform (A G Aᵀ: the transpose of WinoOut8) for the
// tiles of tile row ty of one image, 16 filters at once, written tile-major
// for the gemm: gr is the image's plane of the first filter, the 16
// filters' planes idx[l] values apart; each of a tile's four output-
// gradient pixels is gathered across the filters (zero past the image),
// and tile tx's 16 values go to dst + ξ·ds + tx·dt, 16 filters each.
TEXT ·WinoOutTGather(SB), NOSPLIT, $0-64
	MOVQ gr+0(FP), SI
	MOVQ idx+8(FP), AX
	VMOVDQU32 (AX), Z30
	MOVQ h+16(FP), BX
	MOVQ w+24(FP), R8
	MOVQ ty+32(FP), CX
	MOVQ dst+40(FP), DI
	MOVQ ds+48(FP), R9
	SHLQ $2, R9
	MOVQ dt+56(FP), R10
	SHLQ $2, R10
	VPBROADCASTD signBit<>(SB), Z31
	// SI → pixel (2ty, 0); R11: 1 when row 2ty+1 is inside the image
	MOVQ CX, AX
	SHLQ $1, AX
	LEAQ 1(AX), R11
	IMULQ R8, AX
	LEAQ (SI)(AX*4), SI
	XORQ R12, R12
	CMPQ R11, BX
	SETLT R12
	LEAQ 0(R8*4), R13          // row, bytes
	XORQ DX, DX                // column 2tx

wotgLoop:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	KXNORW K1, K1, K1
	VGATHERDPS (SI)(Z30*4), K1, Z0        // e0: (2ty, 2tx)
	LEAQ 1(DX), AX
	CMPQ AX, R8
	JGE wotgNoCol
	KXNORW K1, K1, K1
	VGATHERDPS 4(SI)(Z30*4), K1, Z1       // o0: (2ty, 2tx+1)
	TESTQ R12, R12
	JZ wotgRowsDone
	LEAQ (SI)(R13*1), AX
	KXNORW K1, K1, K1
	VGATHERDPS (AX)(Z30*4), K1, Z2        // e1: (2ty+1, 2tx)
	KXNORW K1, K1, K1
	VGATHERDPS 4(AX)(Z30*4), K1, Z3       // o1: (2ty+1, 2tx+1)
	JMP wotgRowsDone

wotgNoCol:
	TESTQ R12, R12
	JZ wotgRowsDone
	LEAQ (SI)(R13*1), AX
	KXNORW K1, K1, K1
	VGATHERDPS (AX)(Z30*4), K1, Z2        // e1

wotgRowsDone:
	VADDPS Z2, Z0, Z4          // e0 + e1
	VSUBPS Z2, Z0, Z5          // e0 − e1
	VPXORD Z31, Z2, Z2         // −e1
	VADDPS Z3, Z1, Z6          // o0 + o1
	VSUBPS Z3, Z1, Z7          // o0 − o1
	VPXORD Z31, Z3, Z3         // −o1
	MOVQ DI, AX
	VMOVUPS Z0, Z8
	VMOVUPS Z1, Z9
	CALL winoOutTGCols<>(SB)
	VMOVUPS Z4, Z8
	VMOVUPS Z6, Z9
	CALL winoOutTGCols<>(SB)
	VMOVUPS Z5, Z8
	VMOVUPS Z7, Z9
	CALL winoOutTGCols<>(SB)
	VMOVUPS Z2, Z8
	VMOVUPS Z3, Z9
	CALL winoOutTGCols<>(SB)
	ADDQ $8, SI
	ADDQ R10, DI
	ADDQ $2, DX
	CMPQ DX, R8
	JLT wotgLoop
	VZEROUPPER
	RET

// winoOutTGCols: Z8 = E, Z9 = O of one row; planes at AX, AX+R9, ...
// get E, E+O, E−O, −O; AX after them.
TEXT winoOutTGCols<>(SB), NOSPLIT|NOFRAME, $0-0
	VADDPS Z9, Z8, Z12
	VSUBPS Z9, Z8, Z13
	VPXORD Z31, Z9, Z14
	VMOVUPS Z8, (AX)
	ADDQ R9, AX
	VMOVUPS Z12, (AX)
	ADDQ R9, AX
	VMOVUPS Z13, (AX)
	ADDQ R9, AX
	VMOVUPS Z14, (AX)
	ADDQ R9, AX
	RET
