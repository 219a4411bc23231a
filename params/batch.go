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

// Batch is one shard's training input: decoded uint8 pixels plus the
// structure the loss needs. The samplers (episodes) make it as a pure
// function of (seed, step, shard) and the dataset, the wire carries it as
// it is, and the model computes on it; it holds no pointers into the
// dataset.
type Batch struct {
	Kind Kind
	// Size is the side of every (square) image in pixels.
	Size int
	// Pixels holds len(Labels) images of Size*Size bytes each, row-major,
	// one after another; 0 is background, 255 is stroke.
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

// Image returns the pixels of image i; it aliases b.Pixels.
func (b *Batch) Image(i int) []uint8 {
	n := b.Size * b.Size
	return b.Pixels[i*n : (i+1)*n]
}
