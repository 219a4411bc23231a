package model

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// MaxImages bounds the images of one batch or one Embed call's chunking
// input, so a bad message cannot make the model allocate without limit.
const MaxImages = 1 << 16

// maxBatchImages bounds the images of a training batch: a graph holds all
// activations of the batch at once.
const maxBatchImages = 4096

// maxActivations bounds the values of one block-1 activation tensor
// (images × filters × side²) of a training batch: 2^28 float32 values are
// 1 GiB, and a step holds several such tensors.
const maxActivations = 1 << 28

// shapeKey identifies a compiled training graph.
type shapeKey struct {
	images           int
	way, shot, query int
}

// checkBatch validates b against the model and its Kind and returns the
// graph key, or an error wrapping ErrBatch that says what is wrong.
func (m *Model) checkBatch(b *params.Batch) (shapeKey, error) {
	if b == nil {
		return shapeKey{}, fmt.Errorf("batch: nil: %w", ErrBatch)
	}
	if b.Kind != m.cfg.Loss {
		return shapeKey{}, fmt.Errorf("batch: kind %s, but the model trains %s: %w", b.Kind, m.cfg.Loss, ErrBatch)
	}
	if b.Size != m.cfg.Size {
		return shapeKey{}, fmt.Errorf("batch: image size %d, model expects %d: %w", b.Size, m.cfg.Size, ErrBatch)
	}
	n := len(b.Labels)
	if n == 0 || n > maxBatchImages {
		return shapeKey{}, fmt.Errorf("batch: %d images, want 1..%d: %w", n, maxBatchImages, ErrBatch)
	}
	if b.Planes() != m.cfg.InputChannels() || !params.ValidChannels(b.Channels) {
		return shapeKey{}, fmt.Errorf("batch: %d channels, model expects %d: %w", b.Planes(), m.cfg.InputChannels(), ErrBatch)
	}
	if want := n * b.BytesPerImage(); len(b.Pixels) != want {
		return shapeKey{}, fmt.Errorf("batch: %d pixel bytes for %d images of %d×%d×%d, want %d: %w",
			len(b.Pixels), n, b.Planes(), b.Size, b.Size, want, ErrBatch)
	}
	if a := n * m.cfg.Filters * b.Size * b.Size; a > maxActivations {
		return shapeKey{}, fmt.Errorf("batch: %d images of %d×%d with %d filters need %d activations per layer, more than %d: %w",
			n, b.Size, b.Size, m.cfg.Filters, a, maxActivations, ErrBatch)
	}
	key := shapeKey{images: n}
	switch b.Kind {
	case params.KindTriplets:
		if n%3 != 0 {
			return key, fmt.Errorf("batch: %d images is not a whole number of triplets: %w", n, ErrBatch)
		}
		for t := 0; t < n/3; t++ {
			a, p, q := b.Labels[3*t], b.Labels[3*t+1], b.Labels[3*t+2]
			if a != p || a == q {
				return key, fmt.Errorf("batch: triplet %d has labels (%d, %d, %d), want anchor = positive ≠ negative: %w",
					t, a, p, q, ErrBatch)
			}
		}
	case params.KindPairs:
		if n%2 != 0 {
			return key, fmt.Errorf("batch: %d images is not a whole number of pairs: %w", n, ErrBatch)
		}
		if len(b.Same) != n/2 {
			return key, fmt.Errorf("batch: %d Same flags for %d pairs: %w", len(b.Same), n/2, ErrBatch)
		}
		for i, s := range b.Same {
			same := b.Labels[2*i] == b.Labels[2*i+1]
			if s > 1 || same != (s == 1) {
				return key, fmt.Errorf("batch: pair %d has labels (%d, %d) but Same %d: %w",
					i, b.Labels[2*i], b.Labels[2*i+1], s, ErrBatch)
			}
		}
	case params.KindClasses:
		// runs of equal labels, class by class, all of one length k ≥ 2,
		// and at least two classes, each seen once
		k := 1
		for k < n && b.Labels[k] == b.Labels[0] {
			k++
		}
		if k < 2 || n%k != 0 || n/k < 2 {
			return key, fmt.Errorf("batch: %d images with %d of the first class are not 2 or more classes of 2 or more images each, class by class: %w",
				n, k, ErrBatch)
		}
		seen := map[int32]bool{}
		for c := 0; c < n/k; c++ {
			l := b.Labels[c*k]
			if seen[l] {
				return key, fmt.Errorf("batch: class %d appears in two runs (images %d..%d repeat it): %w", l, c*k, c*k+k-1, ErrBatch)
			}
			seen[l] = true
			for i := c*k + 1; i < c*k+k; i++ {
				if b.Labels[i] != l {
					return key, fmt.Errorf("batch: image %d has label %d, want %d (%d images per class, class by class): %w",
						i, b.Labels[i], l, k, ErrBatch)
				}
			}
		}
		key.way, key.shot = n/k, k
	case params.KindEpisode:
		w, s, q := b.Way, b.Shot, b.Query
		if w < 2 || s < 1 || q < 1 || w > n || s > n || q > n || w*(s+q) != n {
			return key, fmt.Errorf("batch: episode %d-way %d-shot %d-query does not fit %d images (want way ≥ 2, shot ≥ 1, query ≥ 1, way·(shot+query) = images): %w",
				w, s, q, n, ErrBatch)
		}
		for i := 0; i < w*s; i++ {
			if want := int32(i / s); b.Labels[i] != want {
				return key, fmt.Errorf("batch: support image %d has label %d, want %d (support is class by class): %w",
					i, b.Labels[i], want, ErrBatch)
			}
		}
		for i := w * s; i < n; i++ {
			if l := b.Labels[i]; l < 0 || int(l) >= w {
				return key, fmt.Errorf("batch: query image %d has label %d, want 0..%d: %w", i-w*s, l, w-1, ErrBatch)
			}
		}
		key.way, key.shot, key.query = w, s, q
	}
	return key, nil
}

// count is the number of terms the loss of a batch of key averages over:
// triplets (given or mined), pairs, or query images.
func (m *Model) count(key shapeKey) int {
	switch m.cfg.Loss {
	case params.KindTriplets:
		return key.images / 3
	case params.KindClasses:
		return minedTerms(m.cfg.Mining, key.images, key.shot)
	case params.KindPairs:
		return key.images / 2
	default:
		return key.way * key.query
	}
}
