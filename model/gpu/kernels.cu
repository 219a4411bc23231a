// kernels.cu: the CUDA kernels of fsl's Conv-4 training step, float32.
// Compiled by scripts/cuda/build.sh to kernels.ptx (nvcc -ptx
// -arch=compute_80), which is committed and embedded in the cuda build;
// the driver JIT-compiles it for the device at module load.
//
// Layouts mirror package model's CPU path: activations [C N H W] (channel
// major); a 3×3 pad-1 convolution is im2col (col [C·9, N·H·W], row
// c·9 + ky·3 + kx) followed by one gemm. Every reduction runs in a fixed
// order (no atomics), so results are bitwise reproducible on one device.
// Where the CPU rounds an expression without fused multiply-add, so do
// these kernels (__fmul_rn / __fadd_rn), so the ReLU masks agree.

#define BM 64
#define BN 64
#define BK 16

extern "C" {

// pixels_to_float: x[i] = px[i] / 255.
__global__ void pixels_to_float(const unsigned char *px, float *x, long long n) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		x[i] = (float)px[i] / 255.0f;
	}
}

// im2col: col[c·9+ky·3+kx][n·H·W + y·W + x] = in[c][n][y+ky-1][x+kx-1], 0 outside.
__global__ void im2col(const float *in, float *col, int C, int N, int H, int W) {
	long long hw = (long long)H * W, nhw = N * hw, total = (long long)C * 9 * nhw;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
		long long r = i / nhw, j = i - r * nhw;
		int c = (int)(r / 9), k = (int)(r % 9), ky = k / 3, kx = k % 3;
		long long n = j / hw;
		int p = (int)(j - n * hw), y = p / W, x = p % W;
		int yy = y + ky - 1, xx = x + kx - 1;
		float v = 0.0f;
		if (yy >= 0 && yy < H && xx >= 0 && xx < W) {
			v = in[c * nhw + n * hw + yy * W + xx];
		}
		col[i] = v;
	}
}

// col2im: the transpose of im2col. dx[c][n][y][x] = Σ over (ky, kx) in
// row-major order of col[c·9+ky·3+kx][n, y-ky+1, x-kx+1] (in range), the
// order package model's CPU col2im adds them in.
__global__ void col2im(const float *col, float *dx, int C, int N, int H, int W) {
	long long hw = (long long)H * W, nhw = N * hw, total = C * nhw;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
		long long c = i / nhw, j = i - c * nhw;
		long long n = j / hw;
		int p = (int)(j - n * hw), y = p / W, x = p % W;
		float s = 0.0f;
		for (int ky = 0; ky < 3; ky++) {
			int oy = y - ky + 1;
			if (oy < 0 || oy >= H) continue;
			for (int kx = 0; kx < 3; kx++) {
				int ox = x - kx + 1;
				if (ox < 0 || ox >= W) continue;
				s += col[(c * 9 + ky * 3 + kx) * nhw + n * hw + oy * W + ox];
			}
		}
		dx[i] = s;
	}
}

// sgemm: row-major C = op(A)·op(B), op(A) [M K], op(B) [K N]; op
// transposes when transA / transB is non-zero (A is then stored [K M],
// B [N K]). Block z computes the part of the sum over k in
// [z·kchunk, (z+1)·kchunk) into C + z·cstride, so a long K can be split
// over blocks and the parts summed by sum_parts in a fixed order. Tiles
// of 64×64, 16 deep, 256 threads of 4×4 outputs; every output sums its k
// in ascending order.
__global__ void __launch_bounds__(256) sgemm(int transA, int transB, int M, int N, int K,
	const float *A, int lda, const float *B, int ldb, float *C, int ldc, int kchunk, long long cstride) {
	__shared__ float As[BK][BM];
	__shared__ float Bs[BK][BN];
	int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
	int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
	int k0 = blockIdx.z * kchunk, k1 = min(K, k0 + kchunk);
	C += blockIdx.z * cstride;
	float acc[4][4];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
	for (int kt = k0; kt < k1; kt += BK) {
		for (int l = 0; l < 4; l++) {
			int e = tid + l * 256;
			int m, k;
			if (transA) { m = e % BM; k = e / BM; } else { m = e / BK; k = e % BK; }
			int gm = m0 + m, gk = kt + k;
			float v = 0.0f;
			if (gm < M && gk < k1) v = transA ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
			As[k][m] = v;
			int n;
			if (transB) { n = e / BK; k = e % BK; } else { n = e % BN; k = e / BN; }
			int gn = n0 + n;
			gk = kt + k;
			v = 0.0f;
			if (gn < N && gk < k1) v = transB ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
			Bs[k][n] = v;
		}
		__syncthreads();
#pragma unroll
		for (int k = 0; k < BK; k++) {
			float a[4], b[4];
			for (int i = 0; i < 4; i++) a[i] = As[k][ty + 16 * i];
			for (int j = 0; j < 4; j++) b[j] = Bs[k][tx + 16 * j];
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
		}
		__syncthreads();
	}
	for (int i = 0; i < 4; i++) {
		int gm = m0 + ty + 16 * i;
		if (gm >= M) continue;
		for (int j = 0; j < 4; j++) {
			int gn = n0 + tx + 16 * j;
			if (gn < N) C[(long long)gm * ldc + gn] = acc[i][j];
		}
	}
}

// sum_parts: C[i] = Σ_{s<parts} part[s·n + i] in order of s, in float64.
__global__ void sum_parts(const float *part, float *C, long long n, int parts) {
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		double s = 0.0;
		for (int p = 0; p < parts; p++) s += (double)part[p * n + i];
		C[i] = (float)s;
	}
}

// block_sum2 reduces two per-thread float64 values over a 256-thread
// block in a fixed tree order; thread 0 gets the totals.
__device__ void block_sum2(double *a, double *b) {
	__shared__ double sa[256], sb[256];
	sa[threadIdx.x] = *a;
	sb[threadIdx.x] = *b;
	__syncthreads();
	for (int s = 128; s > 0; s >>= 1) {
		if (threadIdx.x < s) {
			sa[threadIdx.x] += sa[threadIdx.x + s];
			sb[threadIdx.x] += sb[threadIdx.x + s];
		}
		__syncthreads();
	}
	*a = sa[0];
	*b = sb[0];
}

// channel_partial: x [C M]; block (b, c) sums channel c's elements
// [b·chunk, (b+1)·chunk) into part[(c·gridDim.x + b)·2]: with mean ==
// NULL, Σ x; else Σ (x − mean[c])² (mean in float64).
__global__ void __launch_bounds__(256) channel_partial(const float *x, const double *mean, double *part, long long M, long long chunk) {
	int c = blockIdx.y;
	long long lo = blockIdx.x * chunk, hi = min(M, lo + chunk);
	const float *xc = x + c * M;
	double mu = mean ? mean[c] : 0.0, s = 0.0, unused = 0.0;
	for (long long i = lo + threadIdx.x; i < hi; i += 256) {
		double v = (double)xc[i];
		if (mean) {
			v -= mu;
			s += v * v;
		} else {
			s += v;
		}
	}
	block_sum2(&s, &unused);
	if (threadIdx.x == 0) part[(c * gridDim.x + blockIdx.x) * 2] = s;
}

// bn_mean: mean64[c] = Σ parts / M; stats[c] = (float)mean64[c].
__global__ void bn_mean(const double *part, int parts, int C, long long M, double *mean64, float *stats) {
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= C) return;
	double s = 0.0;
	for (int p = 0; p < parts; p++) s += part[(c * parts + p) * 2];
	mean64[c] = s / (double)M;
	stats[c] = (float)(s / (double)M);
}

// bn_var: stats[C+c] = biased variance (Σ parts / M); then the affine map
// of training-mode batch norm from the float32 statistics, as package
// model's affine: inv = 1/√(σ²+eps), a = γ·inv, sh = β − μ·a.
__global__ void bn_var(const double *part, int parts, int C, long long M, float *stats,
	const float *gamma, const float *beta, float *a, float *sh) {
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= C) return;
	double s = 0.0;
	for (int p = 0; p < parts; p++) s += part[(c * parts + p) * 2];
	float var = (float)(s / (double)M);
	stats[C + c] = var;
	double inv = 1.0 / sqrt((double)var + 1e-5);
	double af = (double)gamma[c] * inv;
	a[c] = (float)af;
	sh[c] = (float)((double)beta[c] - (double)stats[c] * af);
}

// bn_relu: y = max(x·a[c] + sh[c], 0) for x [C M], rounded as the CPU
// rounds it (no fused multiply-add).
__global__ void bn_relu(const float *x, const float *a, const float *sh, float *y, int C, long long M) {
	long long total = C * M;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
		int c = (int)(i / M);
		float z = __fadd_rn(__fmul_rn(x[i], a[c]), sh[c]);
		y[i] = z > 0.0f ? z : 0.0f;
	}
}

// maxpool: out [P H/2 W/2] = max of each 2×2 window of in [P H W]
// (floor: a last odd row or column is dropped).
__global__ void maxpool(const float *in, float *out, long long P, int H, int W) {
	int oh = H / 2, ow = W / 2;
	long long total = P * oh * ow;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
		long long p = i / (oh * ow);
		int r = (int)(i - p * oh * ow), oy = r / ow, ox = r % ow;
		const float *w0 = in + p * H * W + 2 * oy * W + 2 * ox, *w1 = w0 + W;
		out[i] = fmaxf(fmaxf(w0[0], w0[1]), fmaxf(w1[0], w1[1]));
	}
}

// maxpool_back: din [P H W] gets each window's dout at the window's first
// maximum in (0,0), (0,1), (1,0), (1,1) order, 0 elsewhere (and in the
// dropped odd row or column).
__global__ void maxpool_back(const float *in, const float *dout, float *din, long long P, int H, int W) {
	int oh = H / 2, ow = W / 2;
	long long total = P * H * W;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
		long long p = i / (H * W);
		int r = (int)(i - p * H * W), y = r / W, x = r % W, oy = y / 2, ox = x / 2;
		float g = 0.0f;
		if (oy < oh && ox < ow) {
			const float *w0 = in + p * H * W + 2 * oy * W + 2 * ox, *w1 = w0 + W;
			float v[4] = {w0[0], w0[1], w1[0], w1[1]};
			float m = fmaxf(fmaxf(v[0], v[1]), fmaxf(v[2], v[3]));
			int first = 0;
			while (first < 3 && v[first] != m) first++; // bounded even for NaN
			if (first == (y - 2 * oy) * 2 + (x - 2 * ox)) g = dout[p * oh * ow + oy * ow + ox];
		}
		din[i] = g;
	}
}

// keep returns g where the pre-ReLU value z = x·a + sh is > 0, else 0.
__device__ float keep(float x, float a, float sh, float g) {
	float z = __fadd_rn(__fmul_rn(x, a), sh);
	return z > 0.0f ? g : 0.0f;
}

// bn_back_partial: block (b, c) sums, over channel c's elements
// [b·chunk, (b+1)·chunk), dz and dz·x with dz = dy·[x·a+sh > 0], into
// part[(c·gridDim.x + b)·2 + {0, 1}].
__global__ void __launch_bounds__(256) bn_back_partial(const float *x, const float *dy, const float *a, const float *sh,
	double *part, long long M, long long chunk) {
	int c = blockIdx.y;
	long long lo = blockIdx.x * chunk, hi = min(M, lo + chunk);
	const float *xc = x + c * M, *gc = dy + c * M;
	float ac = a[c], shc = sh[c];
	double sdz = 0.0, sdzx = 0.0;
	for (long long i = lo + threadIdx.x; i < hi; i += 256) {
		float v = xc[i];
		double d = (double)keep(v, ac, shc, gc[i]);
		sdz += d;
		sdzx += d * (double)v;
	}
	block_sum2(&sdz, &sdzx);
	if (threadIdx.x == 0) {
		part[(c * gridDim.x + blockIdx.x) * 2] = sdz;
		part[(c * gridDim.x + blockIdx.x) * 2 + 1] = sdzx;
	}
}

// bn_back_params: dγ = (Σdz·x − μ·Σdz)·inv and dβ = Σdz per channel, and
// the coefficients of dx = x·p + q + k·dz (coef [3 C]: p, q, k), as
// package model's bnParamGrad and bnInputGrad compute them.
__global__ void bn_back_params(const double *part, int parts, int C, long long M, const float *stats,
	const float *gamma, float *dgamma, float *dbeta, float *coef) {
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= C) return;
	double sdz = 0.0, sdzx = 0.0;
	for (int p = 0; p < parts; p++) {
		sdz += part[(c * parts + p) * 2];
		sdzx += part[(c * parts + p) * 2 + 1];
	}
	double mu = (double)stats[c], inv = 1.0 / sqrt((double)stats[C + c] + 1e-5);
	float dg = (float)((sdzx - mu * sdz) * inv), db = (float)sdz;
	dgamma[c] = dg;
	dbeta[c] = db;
	double m = (double)M, k = (double)gamma[c] * inv;
	coef[c] = (float)(-k * (double)dg * inv / m);
	coef[C + c] = (float)(-k * (double)db / m + k * (double)dg * inv * mu / m);
	coef[2 * C + c] = (float)k;
}

// bn_back_dx: dx = x·p + q + k·dz for x, dy [C M] (dz as in bn_back_partial).
__global__ void bn_back_dx(const float *x, const float *dy, const float *a, const float *sh, const float *coef,
	float *dx, int C, long long M) {
	long long total = C * M;
	for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
		int c = (int)(i / M);
		float v = x[i];
		float d = keep(v, a[c], sh[c], dy[i]);
		dx[i] = __fadd_rn(__fadd_rn(__fmul_rn(v, coef[c]), coef[C + c]), __fmul_rn(coef[2 * C + c], d));
	}
}

} // extern "C"
