package params

import "fmt"

// Kind says how the images of a Batch are grouped, and so which loss trains
// on it.
type Kind uint8

const (
	// KindEpisode is an N-way K-shot episode: Way*Shot support images, class
	// by class, followed by Way*Query query images, class by class.
	KindEpisode Kind = iota + 1
	// KindPairs is a batch of Siamese pairs: images 2i and 2i+1 form pair i,
	// and Same[i] says whether they share a class.
	KindPairs
	// KindTriplets is a batch of triplets: image 3i is the anchor, 3i+1 the
	// positive (same class, other image) and 3i+2 the negative (other class).
	KindTriplets
	// KindClasses is a batch of P classes × K images each, class by class:
	// images i·K..i·K+K−1 are K different images of one class, and the P
	// classes are distinct. Triplets are mined from it (batch-hard or
	// semi-hard; see model.Mining) rather than drawn by the sampler.
	KindClasses
	// KindEmbed is a batch of images to embed, not to train on: a shard of
	// an evaluation (eval.Plan). The result's Grads are the images'
	// embeddings, one after another; Labels are zeros, one per image.
	KindEmbed
)

// String names the kind as the job config spells its loss ("classes" for
// KindClasses, whose loss a job spells triplet with mining).
func (k Kind) String() string {
	switch k {
	case KindEpisode:
		return "proto"
	case KindPairs:
		return "siamese"
	case KindTriplets:
		return "triplet"
	case KindClasses:
		return "classes"
	case KindEmbed:
		return "embed"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Channel counts a Batch (and a dataset, a model) may have: 0 or 1 is
// grayscale, 3 is RGB.
const (
	Gray = 1
	RGB  = 3
)

// ValidChannels reports whether c is a channel count a batch may have:
// 0 or Gray (grayscale) or RGB.
func ValidChannels(c int) bool { return c == 0 || c == Gray || c == RGB }

// maxSide bounds Size in CheckShape, so that the bytes of one image fit an
// int with room to spare; no model takes images anywhere near this large.
const maxSide = 1 << 20

// Batch is one shard's training input: decoded uint8 pixels plus the
// structure the loss needs. The samplers (episodes) make it as a pure
// function of (seed, step, shard) and the dataset, the wire carries it as
// it is, and the model computes on it; it holds no pointers into the
// dataset.
type Batch struct {
	Kind Kind
	// Size is the side of every (square) image in pixels.
	Size int
	// Channels is the number of colour planes of every image: 0 or 1
	// grayscale (the samplers leave it 0, which the wire encodes as it did
	// before colour existed), 3 RGB.
	Channels int
	// Pixels holds len(Labels) images of BytesPerImage bytes each, one
	// after another. An image is planar: its Channels planes of Size*Size
	// bytes one after another (red, green, blue), each row-major; a
	// grayscale image is its one plane. 0 is background (black), 255 is
	// stroke (full intensity).
	Pixels []uint8
	// Labels holds, per image, its class: the episode-local class 0..Way-1
	// for episodes, the dataset class index for pairs, triplets and
	// classes.
	Labels []int32
	// Way, Shot and Query describe an episode; zero for other kinds.
	Way, Shot, Query int
	// Same holds, for pairs, one entry per pair: 1 same class, 0 different.
	Same []uint8
}

// Images is the number of images in the batch.
func (b *Batch) Images() int { return len(b.Labels) }

// Planes is the number of colour planes of each image: Channels, or 1 when
// Channels is 0.
func (b *Batch) Planes() int { return max(1, b.Channels) }

// BytesPerImage is the length of one image in Pixels: Planes·Size·Size.
func (b *Batch) BytesPerImage() int { return b.Planes() * b.Size * b.Size }

// Image returns the pixels of image i, all its planes; it aliases
// b.Pixels.
func (b *Batch) Image(i int) []uint8 {
	n := b.BytesPerImage()
	return b.Pixels[i*n : (i+1)*n]
}

// CheckShape reports an error when b's channel count is not one a batch
// may have (ValidChannels) or Pixels does not hold exactly len(Labels)
// images of BytesPerImage bytes. It is the check of shape alone, for
// decoders; the model checks the rest against its own config.
func (b *Batch) CheckShape() error {
	if !ValidChannels(b.Channels) {
		return fmt.Errorf("batch: %d channels, want 1 (grayscale) or 3 (RGB)", b.Channels)
	}
	if b.Size < 0 || b.Size > maxSide {
		return fmt.Errorf("batch: image size %d, want 0..%d", b.Size, maxSide)
	}
	n, per := len(b.Labels), b.BytesPerImage()
	// by division: len(Labels)·per could overflow for a hostile size
	if (per == 0 && len(b.Pixels) != 0) || (per > 0 && (len(b.Pixels)%per != 0 || len(b.Pixels)/per != n)) {
		return fmt.Errorf("batch: %d pixel bytes for %d images of %d×%d×%d, want %d", len(b.Pixels), n, b.Planes(), b.Size, b.Size, n*per)
	}
	return nil
}
