package params

import (
	"fmt"
	"math"
)

// Aggregator computes the count-weighted mean of one vector per shard,
//
//	mean = sum_i(count_i * v_i) / sum_i(count_i),  i = 0..S-1,
//
// accumulating in float64 strictly in shard order 0, 1, ..., S-1 and
// rounding once to float32, whatever order the shards arrive in. So the
// result is the same bits however many workers computed the shards, in which
// order and with which retries: sum in shard order, not arrival order.
//
// Shards that arrive in order are folded into the accumulator at once; a
// shard that arrives early is copied and held until those before it are in.
// Add copies what it keeps: the caller may reuse its vector.
//
// Gradients are the main use; any per-shard vector that is averaged by
// example count (batch-norm batch means, a one-value loss) works the same.
// The weighted mean of per-shard variances is not the pooled variance: a
// caller that wants it must aggregate E[x^2] as well.
//
// An Aggregator is not safe for concurrent use.
type Aggregator struct {
	n       int
	acc     []float64
	pending []Vector // early arrivals, by shard; nil when absent or folded
	spare   []Vector // buffers of folded early arrivals, for reuse
	counts  []int    // 0 until the shard is added
	next    int      // first shard not yet folded into acc
	added   int
	total   int
}

// NewAggregator returns an empty aggregator for shards vectors of length n
// each. It fails unless shards > 0 and 0 <= n <= MaxLen.
func NewAggregator(shards, n int) (*Aggregator, error) {
	if shards <= 0 {
		return nil, fmt.Errorf("params: new aggregator: %d shards, want > 0: %w", shards, ErrShard)
	}
	if n < 0 || n > MaxLen {
		return nil, fmt.Errorf("params: new aggregator: length %d, want 0..%d: %w", n, MaxLen, ErrLength)
	}
	return &Aggregator{
		n:       n,
		acc:     make([]float64, n),
		pending: make([]Vector, shards),
		counts:  make([]int, shards),
	}, nil
}

// Shards is the number of shards S.
func (a *Aggregator) Shards() int { return len(a.counts) }

// Add takes shard's vector and its example count. It fails, keeping nothing,
// when shard is outside 0..S-1 or already added, count <= 0 (ErrShard), the
// length is not n (ErrLength), or v holds a NaN or an infinity
// (ErrNonFinite), so a caller may drop the result and wait for another copy.
func (a *Aggregator) Add(shard int, v Vector, count int) error {
	if shard < 0 || shard >= len(a.counts) {
		return fmt.Errorf("params: aggregate shard %d: want 0..%d: %w", shard, len(a.counts)-1, ErrShard)
	}
	if a.counts[shard] != 0 {
		return fmt.Errorf("params: aggregate shard %d: already added: %w", shard, ErrShard)
	}
	if count <= 0 {
		return fmt.Errorf("params: aggregate shard %d: count %d, want > 0: %w", shard, count, ErrShard)
	}
	if count > math.MaxInt-a.total || int64(a.total)+int64(count) > 1<<53 {
		return fmt.Errorf("params: aggregate shard %d: count %d makes the total exceed 2^53: %w", shard, count, ErrShard)
	}
	if len(v) != a.n {
		return fmt.Errorf("params: aggregate shard %d: length %d, want %d: %w", shard, len(v), a.n, ErrLength)
	}
	if err := v.CheckFinite(); err != nil {
		return fmt.Errorf("params: aggregate shard %d: %w", shard, err)
	}
	a.counts[shard] = count
	a.added++
	a.total += count
	if shard != a.next {
		a.pending[shard] = a.hold(v)
		return nil
	}
	a.fold(v, count)
	for a.next < len(a.counts) && a.pending[a.next] != nil {
		p := a.pending[a.next]
		a.pending[a.next] = nil
		a.fold(p, a.counts[a.next])
		a.spare = append(a.spare, p)
	}
	return nil
}

// hold copies v into a spare buffer, allocating only when none is free.
func (a *Aggregator) hold(v Vector) Vector {
	if k := len(a.spare); k > 0 {
		buf := a.spare[k-1]
		a.spare = a.spare[:k-1]
		copy(buf, v)
		return buf
	}
	return v.Clone()
}

// fold adds count*v to the accumulator as shard a.next and advances it.
func (a *Aggregator) fold(v Vector, count int) {
	w := float64(count)
	acc := a.acc[:len(v)]
	for i, x := range v {
		// float64(...) forbids fusing into an FMA: same bits everywhere.
		acc[i] += float64(w * float64(x))
	}
	a.next++
}

// Has reports whether shard has been added.
func (a *Aggregator) Has(shard int) bool {
	return shard >= 0 && shard < len(a.counts) && a.counts[shard] != 0
}

// Missing lists the shards not yet added, in increasing order.
func (a *Aggregator) Missing() []int {
	var m []int
	for i, c := range a.counts {
		if c == 0 {
			m = append(m, i)
		}
	}
	return m
}

// Complete reports whether every shard has been added.
func (a *Aggregator) Complete() bool { return a.added == len(a.counts) }

// Total is the sum of the counts added so far.
func (a *Aggregator) Total() int { return a.total }

// Mean returns the weighted mean in a new vector once every shard is in,
// else an error wrapping ErrIncomplete naming the missing shards. It may be
// called more than once and returns the same bits each time.
func (a *Aggregator) Mean() (Vector, error) {
	if !a.Complete() {
		return nil, fmt.Errorf("params: aggregate mean: shards %v missing of %d: %w", a.Missing(), len(a.counts), ErrIncomplete)
	}
	out := make(Vector, a.n)
	t := float64(a.total)
	for i, s := range a.acc {
		out[i] = float32(s / t)
	}
	return out, nil
}

// Reset empties the aggregator for the next step, keeping its buffers.
func (a *Aggregator) Reset() {
	clear(a.acc)
	for _, p := range a.pending {
		if p != nil {
			a.spare = append(a.spare, p)
		}
	}
	clear(a.pending)
	clear(a.counts)
	a.next, a.added, a.total = 0, 0, 0
}

// WeightedMean is the Aggregator's mean of vs[i] weighted by counts[i], for
// callers that already hold every shard.
func WeightedMean(vs []Vector, counts []int) (Vector, error) {
	if len(vs) != len(counts) {
		return nil, fmt.Errorf("params: weighted mean: %d vectors, %d counts: %w", len(vs), len(counts), ErrShard)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("params: weighted mean: no vectors: %w", ErrShard)
	}
	a, err := NewAggregator(len(vs), len(vs[0]))
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		if err := a.Add(i, v, counts[i]); err != nil {
			return nil, err
		}
	}
	return a.Mean()
}
