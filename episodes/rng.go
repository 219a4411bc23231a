package episodes

import "math/bits"

// rng is a splitmix64 stream. We own the generator and the bounded-integer
// method (rather than math/rand) so that a batch is bit-for-bit the same on
// every Go version, machine and goroutine: only this file decides the bytes.
type rng struct{ state uint64 }

// Stream domains keep training batches and evaluation episodes apart even for
// equal (seed, step, shard) triples.
const (
	domainTrain uint64 = 0x7472_6169_6e00_0001 // "train"
	domainEval  uint64 = 0x6576_616c_0000_0002 // "eval"
	domainGlyph uint64 = 0x676c_7970_6800_0003 // "glyph"
	domainSplit uint64 = 0x7370_6c69_7400_0004 // "split"
)

// mix64 is splitmix64's finaliser: a bijection with good avalanche.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// newRNG seeds a stream from a hash of its key words, order-sensitive.
func newRNG(words ...uint64) *rng {
	h := uint64(0x9e3779b97f4a7c15)
	for _, w := range words {
		h = mix64(h ^ w + 0x9e3779b97f4a7c15)
	}
	return &rng{state: h}
}

// next returns the next 64 random bits.
func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	return mix64(r.state)
}

// intn returns a uniform integer in [0, n) by Lemire's multiply-and-reject
// method; n must be positive.
func (r *rng) intn(n int) int {
	if n <= 1 {
		return 0
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(r.next(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), bound)
		}
	}
	return int(hi)
}

// float returns a uniform float64 in [0, 1) with 53 random bits.
func (r *rng) float() float64 {
	return float64(r.next()>>11) / (1 << 53)
}

// uniform returns a uniform float64 in [lo, hi).
func (r *rng) uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.float() }

// sample returns k distinct integers from [0, n) in random order (Floyd's
// algorithm followed by a shuffle); it needs k <= n.
func (r *rng) sample(n, k int) []int {
	out := make([]int, 0, k)
	for j := n - k; j < n; j++ {
		t := r.intn(j + 1)
		if contains(out, t) {
			t = j
		}
		out = append(out, t)
	}
	r.shuffle(out)
	return out
}

// shuffle permutes xs uniformly (Fisher–Yates).
func (r *rng) shuffle(xs []int) {
	for i := len(xs) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		xs[i], xs[j] = xs[j], xs[i]
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
