#include "textflag.h"

// func addScaledSSE2(acc *float64, v *float32, n int, w float64)
//
// acc[i] += w * float64(v[i]) for i < n, n a multiple of 8: two lanes per
// instruction, each lane the same conversion, product and sum (no FMA) as
// the Go loop, so the same bits. SSE2 is in every amd64 CPU.
TEXT ·addScaledSSE2(SB), NOSPLIT, $0-32
	MOVQ	acc+0(FP), DI
	MOVQ	v+8(FP), SI
	MOVQ	n+16(FP), CX
	MOVSD	w+24(FP), X0
	UNPCKLPD	X0, X0
	SHRQ	$3, CX
	JZ	done

loop:
	CVTPS2PD	(SI), X1
	CVTPS2PD	8(SI), X2
	CVTPS2PD	16(SI), X3
	CVTPS2PD	24(SI), X4
	MULPD	X0, X1
	MULPD	X0, X2
	MULPD	X0, X3
	MULPD	X0, X4
	MOVUPD	(DI), X5
	MOVUPD	16(DI), X6
	MOVUPD	32(DI), X7
	MOVUPD	48(DI), X8
	ADDPD	X5, X1
	ADDPD	X6, X2
	ADDPD	X7, X3
	ADDPD	X8, X4
	MOVUPD	X1, (DI)
	MOVUPD	X2, 16(DI)
	MOVUPD	X3, 32(DI)
	MOVUPD	X4, 48(DI)
	ADDQ	$32, SI
	ADDQ	$64, DI
	DECQ	CX
	JNZ	loop

done:
	RET
