package episodes

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// maxBatchImages bounds the images of one batch, so a typo in a config
// cannot allocate gigabytes.
const maxBatchImages = 1 << 16

// SamplerConfig says what one batch holds. Only the fields of its Kind
// matter.
type SamplerConfig struct {
	Kind params.Kind
	// Way classes per episode, Shot support and Query query images per class.
	Way, Shot, Query int
	// Pairs per Siamese batch; must be even: exactly half are same-class.
	Pairs int
	// Triplets per triplet batch.
	Triplets int
	// Classes per classes batch (params.KindClasses, for mined triplets)
	// and PerClass images of each: P × K.
	Classes, PerClass int
}

// Images is the number of images in one batch of this config.
func (c SamplerConfig) Images() int {
	switch c.Kind {
	case params.KindEpisode:
		return c.Way * (c.Shot + c.Query)
	case params.KindPairs:
		return 2 * c.Pairs
	case params.KindTriplets:
		return 3 * c.Triplets
	case params.KindClasses:
		return c.Classes * c.PerClass
	}
	return 0
}

// Sampler cuts a dataset into batches. A batch is a pure function of
// (seed, step, shard), the dataset and the config: the same call returns the
// same bytes on any goroutine, process, machine or Go version (the stream is
// our own splitmix64 keyed by a hash of the triple; no float arithmetic
// decides a draw). A Sampler is immutable and safe for concurrent use.
type Sampler struct {
	ds  *Dataset
	cfg SamplerConfig
	// distinct[c] is true when every image of class c has its own drawer
	// (or unknown drawers), so any two images make a valid same pair.
	distinct []bool
}

// NewSampler checks that ds can satisfy cfg and returns its sampler. Errors
// wrap ErrConfig (or ErrEmpty) and name the dataset and, where one is at
// fault, the class.
func NewSampler(ds *Dataset, cfg SamplerConfig) (*Sampler, error) {
	if ds == nil || len(ds.Classes) == 0 {
		return nil, fmt.Errorf("new sampler: dataset has no classes: %w", ErrEmpty)
	}
	nc := len(ds.Classes)
	fail := func(format string, args ...any) (*Sampler, error) {
		return nil, fmt.Errorf("new %s sampler on dataset %q: %s: %w", cfg.Kind, ds.Name, fmt.Sprintf(format, args...), ErrConfig)
	}
	switch cfg.Kind {
	case params.KindEpisode:
		if cfg.Way < 1 || cfg.Shot < 1 || cfg.Query < 0 {
			return fail("way %d, shot %d, query %d: want way >= 1, shot >= 1, query >= 0", cfg.Way, cfg.Shot, cfg.Query)
		}
		if cfg.Way > nc {
			return fail("%d-way episodes need %d classes, the dataset has %d", cfg.Way, cfg.Way, nc)
		}
		for _, c := range ds.Classes {
			if cfg.Shot+cfg.Query > c.Count {
				return fail("shot %d + query %d = %d images per class, but class %q has %d", cfg.Shot, cfg.Query, cfg.Shot+cfg.Query, c.Name, c.Count)
			}
		}
	case params.KindPairs:
		if cfg.Pairs < 2 || cfg.Pairs%2 != 0 {
			return fail("%d pairs: want an even number >= 2 (half same-class, half different)", cfg.Pairs)
		}
		if nc < 2 {
			return fail("different-class pairs need 2 classes, the dataset has %d", nc)
		}
	case params.KindTriplets:
		if cfg.Triplets < 1 {
			return fail("%d triplets: want >= 1", cfg.Triplets)
		}
		if nc < 2 {
			return fail("negatives need 2 classes, the dataset has %d", nc)
		}
	case params.KindClasses:
		if cfg.Classes < 2 || cfg.PerClass < 2 {
			return fail("%d classes × %d images: want 2 or more of each (an anchor needs a positive and a negative)", cfg.Classes, cfg.PerClass)
		}
		if cfg.Classes > nc {
			return fail("%d classes per batch, the dataset has %d", cfg.Classes, nc)
		}
		for _, c := range ds.Classes {
			if cfg.PerClass > c.Count {
				return fail("%d images per class, but class %q has %d", cfg.PerClass, c.Name, c.Count)
			}
		}
	default:
		return fail("unknown batch kind %d", cfg.Kind)
	}
	if n := cfg.Images(); n > maxBatchImages {
		return fail("%d images per batch, more than %d", n, maxBatchImages)
	}
	s := &Sampler{ds: ds, cfg: cfg, distinct: make([]bool, nc)}
	for ci, c := range ds.Classes {
		if cfg.Kind == params.KindTriplets && c.Count < 2 {
			return fail("class %q has %d image, an anchor and a positive need 2", c.Name, c.Count)
		}
		if cfg.Kind != params.KindPairs {
			continue
		}
		seen := map[int32]bool{}
		s.distinct[ci] = true
		for k := 0; k < c.Count; k++ {
			d := ds.drawers[c.First+k]
			if d >= 0 && seen[d] {
				s.distinct[ci] = false
			}
			seen[d] = true
		}
		if c.Count < 2 || (!s.distinct[ci] && len(seen) < 2) {
			return fail("class %q has no two images by different drawers for a same-class pair", c.Name)
		}
	}
	return s, nil
}

// Config returns the sampler's config.
func (s *Sampler) Config() SamplerConfig { return s.cfg }

// Dataset returns the dataset the sampler draws from.
func (s *Sampler) Dataset() *Dataset { return s.ds }

// Batch returns shard's batch of step under seed, laid out as Batch's doc
// (and params.KindClasses') says; Labels are episode-local for episodes
// and dataset class indices otherwise. Any int step and shard are valid (they are hashed as uint64).
func (s *Sampler) Batch(seed uint64, step, shard int) *params.Batch {
	return s.render(s.plan(newRNG(domainTrain, seed, uint64(step), uint64(shard))))
}

// ref names one image of a batch: dataset class and image within the class.
type ref struct{ class, image int }

// plan is a batch before pixels are copied: useful to test the sampling
// rules on image identities.
type plan struct {
	refs   []ref
	labels []int32
	same   []uint8
}

func (s *Sampler) plan(r *rng) plan {
	switch s.cfg.Kind {
	case params.KindEpisode:
		return s.planEpisode(r)
	case params.KindPairs:
		return s.planPairs(r)
	case params.KindClasses:
		return s.planClasses(r)
	default:
		return s.planTriplets(r)
	}
}

// planEpisode: Way distinct classes, Shot+Query distinct images of each;
// supports class by class, then queries class by class.
func (s *Sampler) planEpisode(r *rng) plan {
	c := s.cfg
	classes := r.sample(len(s.ds.Classes), c.Way)
	p := plan{refs: make([]ref, c.Way*(c.Shot+c.Query)), labels: make([]int32, c.Way*(c.Shot+c.Query))}
	for w, cl := range classes {
		imgs := r.sample(s.ds.Classes[cl].Count, c.Shot+c.Query)
		for k := 0; k < c.Shot; k++ {
			i := w*c.Shot + k
			p.refs[i], p.labels[i] = ref{cl, imgs[k]}, int32(w)
		}
		for q := 0; q < c.Query; q++ {
			i := c.Way*c.Shot + w*c.Query + q
			p.refs[i], p.labels[i] = ref{cl, imgs[c.Shot+q]}, int32(w)
		}
	}
	return p
}

// planPairs: exactly Pairs/2 same-class pairs at random positions; a
// same-class pair's two images are different images by different drawers; a
// different-class pair draws two distinct classes.
func (s *Sampler) planPairs(r *rng) plan {
	n := s.cfg.Pairs
	p := plan{refs: make([]ref, 2*n), labels: make([]int32, 2*n), same: make([]uint8, n)}
	for _, i := range r.sample(n, n/2) {
		p.same[i] = 1
	}
	nc := len(s.ds.Classes)
	for i := 0; i < n; i++ {
		var a, b ref
		if p.same[i] == 1 {
			c := r.intn(nc)
			x, y := s.sameDrawerFree(r, c)
			a, b = ref{c, x}, ref{c, y}
		} else {
			cs := r.sample(nc, 2)
			a = ref{cs[0], r.intn(s.ds.Classes[cs[0]].Count)}
			b = ref{cs[1], r.intn(s.ds.Classes[cs[1]].Count)}
		}
		p.refs[2*i], p.refs[2*i+1] = a, b
		p.labels[2*i], p.labels[2*i+1] = int32(a.class), int32(b.class)
	}
	return p
}

// sameDrawerFree draws two different images of class c by different
// drawers, uniformly among such ordered pairs.
func (s *Sampler) sameDrawerFree(r *rng, c int) (int, int) {
	cl := s.ds.Classes[c]
	if s.distinct[c] {
		xy := r.sample(cl.Count, 2)
		return xy[0], xy[1]
	}
	drawer := func(k int) int32 { return s.ds.drawers[cl.First+k] }
	ok := func(x, y int) bool { return x != y && (drawer(x) < 0 || drawer(x) != drawer(y)) }
	// Rejection first (cheap when drawers are mostly distinct), then an
	// exact enumeration so the loop is bounded whatever the drawer mix.
	for try := 0; try < 64; try++ {
		x, y := r.intn(cl.Count), r.intn(cl.Count)
		if ok(x, y) {
			return x, y
		}
	}
	var valid [][2]int
	for x := 0; x < cl.Count; x++ {
		for y := 0; y < cl.Count; y++ {
			if ok(x, y) {
				valid = append(valid, [2]int{x, y})
			}
		}
	}
	v := valid[r.intn(len(valid))] // NewSampler guaranteed one exists
	return v[0], v[1]
}

// planTriplets: anchor and positive are different images of one class, the
// negative is from another class.
func (s *Sampler) planTriplets(r *rng) plan {
	n := s.cfg.Triplets
	nc := len(s.ds.Classes)
	p := plan{refs: make([]ref, 3*n), labels: make([]int32, 3*n)}
	for i := 0; i < n; i++ {
		a := r.intn(nc)
		ap := r.sample(s.ds.Classes[a].Count, 2)
		neg := r.intn(nc - 1)
		if neg >= a {
			neg++
		}
		p.refs[3*i] = ref{a, ap[0]}
		p.refs[3*i+1] = ref{a, ap[1]}
		p.refs[3*i+2] = ref{neg, r.intn(s.ds.Classes[neg].Count)}
		p.labels[3*i], p.labels[3*i+1], p.labels[3*i+2] = int32(a), int32(a), int32(neg)
	}
	return p
}

// planClasses: Classes distinct classes, PerClass distinct images of each,
// class by class.
func (s *Sampler) planClasses(r *rng) plan {
	c := s.cfg
	p := plan{refs: make([]ref, 0, c.Classes*c.PerClass), labels: make([]int32, 0, c.Classes*c.PerClass)}
	for _, cl := range r.sample(len(s.ds.Classes), c.Classes) {
		for _, img := range r.sample(s.ds.Classes[cl].Count, c.PerClass) {
			p.refs = append(p.refs, ref{cl, img})
			p.labels = append(p.labels, int32(cl))
		}
	}
	return p
}

// render copies the planned images (rotated as their classes say) into a
// fresh Batch of the dataset's channels (Channels left 0 for grayscale).
func (s *Sampler) render(p plan) *params.Batch {
	n := s.ds.BytesPerImage()
	b := &params.Batch{Kind: s.cfg.Kind, Size: s.ds.Size, Channels: s.ds.BatchChannels(), Pixels: make([]uint8, len(p.refs)*n), Labels: p.labels, Same: p.same}
	if s.cfg.Kind == params.KindEpisode {
		b.Way, b.Shot, b.Query = s.cfg.Way, s.cfg.Shot, s.cfg.Query
	}
	for i, rf := range p.refs {
		s.ds.ClassImage(rf.class, rf.image, b.Pixels[i*n:(i+1)*n])
	}
	return b
}

// EvalSampler draws evaluation episodes over held-out classes. Its stream is
// separate from training batches: episode i of seed s never coincides with a
// training batch's draw by construction of the hash domain.
type EvalSampler struct{ s *Sampler }

// NewEvalSampler returns a sampler of way-way shot-shot episodes with query
// queries per class over ds (typically the "test" or "val" split).
func NewEvalSampler(ds *Dataset, way, shot, query int) (*EvalSampler, error) {
	s, err := NewSampler(ds, SamplerConfig{Kind: params.KindEpisode, Way: way, Shot: shot, Query: query})
	if err != nil {
		return nil, err
	}
	return &EvalSampler{s: s}, nil
}

// Episode returns evaluation episode i of seed; a pure function like
// Sampler.Batch.
func (e *EvalSampler) Episode(seed uint64, i int) *params.Batch {
	return e.s.render(e.s.plan(newRNG(domainEval, seed, uint64(i))))
}
