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
// rounding once to float32. Add takes shards in that order only, so the
// result is the same bits however many workers computed the shards, in which
// order and with which retries: the caller (the coordinator's machine) hands
// results in shard order, never arrival order. Add keeps nothing of its
// vector: the caller may reuse it.
//
// Gradients are the main use; any per-shard vector that is averaged by
// example count (batch-norm batch means, a one-value loss) works the same.
// The weighted mean of per-shard variances is not the pooled variance: a
// caller that wants it must aggregate E[x^2] as well.
//
// An Aggregator is not safe for concurrent use.
type Aggregator struct {
	n      int
	shards int
	acc    []float64
	next   int // the shard Add takes next; shards before it are summed
	total  int
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
	return &Aggregator{n: n, shards: shards, acc: make([]float64, n)}, nil
}

// Shards is the number of shards S.
func (a *Aggregator) Shards() int { return a.shards }

// Add takes shard's vector and its example count; shard must be the next in
// shard order. It fails, keeping nothing, when shard is outside 0..S-1,
// already added or not the next (ErrShard), count <= 0 (ErrShard), the
// length is not n (ErrLength), or v holds a NaN or an infinity
// (ErrNonFinite), so a caller may drop the result and wait for another copy.
func (a *Aggregator) Add(shard int, v Vector, count int) error {
	if shard < 0 || shard >= a.shards {
		return fmt.Errorf("params: aggregate shard %d: want 0..%d: %w", shard, a.shards-1, ErrShard)
	}
	if shard < a.next {
		return fmt.Errorf("params: aggregate shard %d: already added: %w", shard, ErrShard)
	}
	if shard != a.next {
		return fmt.Errorf("params: aggregate shard %d: out of order, want shard %d (shards are summed in shard order): %w", shard, a.next, ErrShard)
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
	addScaled(a.acc, v, float64(count))
	a.next++
	a.total += count
	return nil
}

// Has reports whether shard has been added.
func (a *Aggregator) Has(shard int) bool {
	return shard >= 0 && shard < a.next
}

// Missing lists the shards not yet added, in increasing order.
func (a *Aggregator) Missing() []int {
	var m []int
	for i := a.next; i < a.shards; i++ {
		m = append(m, i)
	}
	return m
}

// Complete reports whether every shard has been added.
func (a *Aggregator) Complete() bool { return a.next == a.shards }

// Total is the sum of the counts added so far.
func (a *Aggregator) Total() int { return a.total }

// Mean returns the weighted mean in a new vector once every shard is in,
// else an error wrapping ErrIncomplete naming the missing shards. It may be
// called more than once and returns the same bits each time.
func (a *Aggregator) Mean() (Vector, error) {
	if !a.Complete() {
		return nil, fmt.Errorf("params: aggregate mean: shards %v missing of %d: %w", a.Missing(), a.shards, ErrIncomplete)
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
	a.next, a.total = 0, 0
}
