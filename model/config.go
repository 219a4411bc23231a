package model

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// Defaults applied by New to zero fields of Config.
const (
	// DefaultSize is the image side in pixels (Omniglot resized to 28×28).
	DefaultSize = 28
	// DefaultFilters is the number of filters of every Conv-4 block.
	DefaultFilters = 64
	// DefaultMargin is the triplet margin on squared L2 distances. Embeddings
	// are not normalised. At initialisation (Conv-4, 64 filters, 28×28,
	// batch statistics) squared distances between embeddings of synthetic
	// stroke images measured 28 / 42 / 61 (10th percentile / median / 90th),
	// so a margin of 1 leaves about half the random triplets active at the
	// start and asks for a clear but reachable gap. The embedding scale
	// follows the last batch norm's gamma (ReLU and max-pooling are
	// positively homogeneous), so the margin only fixes that scale.
	DefaultMargin = 1.0
	// DefaultMomentum is the momentum of the running batch-norm statistics
	// (params.EMA folds a step's merged statistics into the running ones
	// with it).
	DefaultMomentum = 0.1
	// MinSize is the smallest image side: four 2×2 poolings must leave at
	// least one pixel.
	MinSize = 16
	// MaxSize bounds the image side so a bad config cannot ask for
	// gigabytes per image.
	MaxSize = 512
	// MaxFilters bounds Filters for the same reason.
	MaxFilters = 1024
	// MinTemperature keeps exp(cos/T) finite in float32 (cos ≤ 1, so
	// exp(50) at most); MaxTemperature is past where the softmax is flat.
	MinTemperature, MaxTemperature = 0.02, 100
)

// Config chooses the network and loss. The zero value is usable: New
// fills zero fields with the defaults above and Loss with params.KindEpisode.
type Config struct {
	// Loss is the kind of batch the model trains on: params.KindTriplets,
	// params.KindPairs (adds the Siamese head to the parameters),
	// params.KindEpisode (prototypical, or Matching Networks with Matching)
	// or params.KindClasses (triplets mined as Mining says). Zero means
	// params.KindEpisode.
	Loss params.Kind
	// Size is the side of the square input images in pixels; ≥ MinSize.
	Size int
	// Channels is the number of colour planes of the input images:
	// params.Gray or params.RGB. Zero means params.Gray (New stores a
	// grayscale config's as zero), and a grayscale config is encoded
	// without it, so configs, layouts and canaries of grayscale models are
	// those of the code before colour existed.
	Channels int `json:",omitempty"`
	// Filters is the number of filters of each of the four conv blocks.
	Filters int
	// Margin is the triplet margin on squared L2 distances
	// (params.KindTriplets and params.KindClasses only); zero means
	// DefaultMargin, negative is an error.
	Margin float32
	// Matching trains params.KindEpisode batches with the Matching
	// Networks loss (Vinyals et al. 2016, without full-context
	// embeddings) instead of the prototypical one; an error with any
	// other Loss.
	Matching bool `json:",omitempty"`
	// Temperature divides the matching loss's cosines before their
	// softmax: cos/T, so T < 1 sharpens the attention that plain cosines
	// (within [0, 1] after the last ReLU) leave nearly flat. Zero means 1,
	// Vinyals et al.'s plain cosines; MinTemperature..MaxTemperature
	// otherwise, and only with Matching.
	Temperature float32 `json:",omitempty"`
	// Mining is how triplets are mined from a params.KindClasses batch:
	// MiningBatchHard (zero means it) or MiningSemiHard. Zero with any
	// other Loss, which mines nothing.
	Mining Mining `json:",omitempty"`
}

// Mining says which triplets of a params.KindClasses batch (P classes × K
// images) the loss max(0, d(a,p) − d(a,n) + margin) is taken over, d the
// squared Euclidean distance between embeddings. Ties go to the lower
// image index.
type Mining uint8

const (
	// MiningBatchHard (Hermans et al. 2017): one triplet per anchor, its
	// farthest positive and its closest negative in the batch.
	MiningBatchHard Mining = iota + 1
	// MiningSemiHard (Schroff et al. 2015, as TensorFlow's
	// triplet_semihard_loss): one triplet per (anchor, positive) pair, with
	// the closest negative farther from the anchor than the positive, or,
	// when no negative is, the farthest negative.
	MiningSemiHard
)

// String names the mining as a job spells it.
func (m Mining) String() string {
	switch m {
	case MiningBatchHard:
		return "batch-hard"
	case MiningSemiHard:
		return "semi-hard"
	}
	return fmt.Sprintf("mining(%d)", uint8(m))
}

// ParseMining reads "batch-hard" or "semi-hard".
func ParseMining(s string) (Mining, error) {
	switch s {
	case "batch-hard":
		return MiningBatchHard, nil
	case "semi-hard":
		return MiningSemiHard, nil
	}
	return 0, fmt.Errorf("mining %q: want batch-hard or semi-hard", s)
}

// withDefaults returns c with zero fields filled, or an error naming the
// first bad field.
func (c Config) withDefaults() (Config, error) {
	if c.Loss == 0 {
		c.Loss = params.KindEpisode
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Filters == 0 {
		c.Filters = DefaultFilters
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	if c.Channels == params.Gray {
		c.Channels = 0 // one spelling of grayscale, the one encoded before colour existed
	}
	if c.Loss == params.KindClasses && c.Mining == 0 {
		c.Mining = MiningBatchHard
	}
	switch c.Loss {
	case params.KindEpisode, params.KindPairs, params.KindTriplets, params.KindClasses:
	default:
		return c, fmt.Errorf("model config: loss kind %d: %w", c.Loss, ErrConfig)
	}
	if c.Matching && c.Loss != params.KindEpisode {
		return c, fmt.Errorf("model config: matching needs episode batches, not %s: %w", c.Loss, ErrConfig)
	}
	if c.Temperature != 0 && !c.Matching {
		return c, fmt.Errorf("model config: temperature %v needs the matching loss: %w", c.Temperature, ErrConfig)
	}
	if c.Temperature != 0 && !(c.Temperature >= MinTemperature && c.Temperature <= MaxTemperature) {
		return c, fmt.Errorf("model config: temperature %v, want %v..%v: %w", c.Temperature, MinTemperature, MaxTemperature, ErrConfig)
	}
	switch {
	case c.Loss != params.KindClasses && c.Mining != 0:
		return c, fmt.Errorf("model config: mining %s needs classes batches, not %s: %w", c.Mining, c.Loss, ErrConfig)
	case c.Mining > MiningSemiHard:
		return c, fmt.Errorf("model config: %s unknown: %w", c.Mining, ErrConfig)
	}
	if c.Size < MinSize || c.Size > MaxSize {
		return c, fmt.Errorf("model config: size %d, want %d..%d (four 2×2 poolings need ≥ %d): %w",
			c.Size, MinSize, MaxSize, MinSize, ErrConfig)
	}
	if c.Channels != 0 && c.Channels != params.Gray && c.Channels != params.RGB {
		return c, fmt.Errorf("model config: channels %d, want %d (grayscale) or %d (RGB): %w", c.Channels, params.Gray, params.RGB, ErrConfig)
	}
	if c.Filters < 1 || c.Filters > MaxFilters {
		return c, fmt.Errorf("model config: filters %d, want 1..%d: %w", c.Filters, MaxFilters, ErrConfig)
	}
	if !(c.Margin > 0) || c.Margin > 1e6 {
		return c, fmt.Errorf("model config: margin %v, want > 0: %w", c.Margin, ErrConfig)
	}
	return c, nil
}

// MatchingScale is what the matching loss multiplies its cosines by:
// 1/Temperature, or 1 when Temperature is zero.
func (c Config) MatchingScale() float64 {
	if c.Temperature == 0 {
		return 1
	}
	return 1 / float64(c.Temperature)
}

// InputChannels is the number of colour planes the first conv layer takes:
// Channels, or 1 when it is zero.
func (c Config) InputChannels() int { return max(1, c.Channels) }

// sides returns the spatial side entering each of the four blocks and the
// side of the final feature map.
func sides(size int) (in [4]int, out int) {
	s := size
	for i := range in {
		in[i] = s
		s /= 2
	}
	return in, s
}
