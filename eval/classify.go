package eval

import (
	"fmt"
	"math"

	"github.com/fsl-project/fsl/model"
)

// Classifier names how a query is assigned to a support class.
type Classifier string

const (
	// NearestPrototype picks the class whose mean support embedding is
	// closest in squared Euclidean distance (Snell et al.). The default.
	NearestPrototype Classifier = "prototype"
	// NearestNeighbour picks the class of the closest support embedding.
	NearestNeighbour Classifier = "neighbour"
	// SiameseHead picks the class of the support image with the highest
	// Siamese same-class score.
	SiameseHead Classifier = "siamese"
	// Attention is Matching Networks' rule (Vinyals et al. 2016): the
	// class with the most attention, attention on a support image being
	// the softmax over the support set of its cosine similarity to the
	// query, divided by the model's temperature as in its loss. The
	// default for a model trained with the matching loss.
	Attention Classifier = "matching"
)

// DefaultClassifier is the classifier of a model trained as cfg says:
// Attention for the matching loss, NearestPrototype otherwise.
func DefaultClassifier(cfg model.Config) Classifier {
	if cfg.Matching {
		return Attention
	}
	return NearestPrototype
}

// ParseClassifier checks a classifier name from a flag or config.
func ParseClassifier(s string) (Classifier, error) {
	switch c := Classifier(s); c {
	case "", NearestPrototype:
		return NearestPrototype, nil
	case NearestNeighbour, "nn", "neighbor":
		return NearestNeighbour, nil
	case SiameseHead:
		return SiameseHead, nil
	case Attention, "attention":
		return Attention, nil
	}
	return "", fmt.Errorf("unknown classifier %q (want prototype, neighbour, matching or siamese)", s)
}

// ScoreFunc gives the Siamese head's same-class score of two embeddings;
// higher means more alike.
type ScoreFunc func(e1, e2 []float32) float32

// episodeEmbeddings holds one episode's embeddings: way*shot support rows,
// class by class, then the queries; dim floats each.
type episodeEmbeddings struct {
	support [][]float32 // [class][shot*dim]
	dim     int
	scale   float64 // Attention's factor on each cosine (model.Config.MatchingScale)
}

// newEpisodeEmbeddings holds classes support classes of net's embeddings.
func newEpisodeEmbeddings(net Net, classes int) episodeEmbeddings {
	return episodeEmbeddings{support: make([][]float32, classes), dim: net.Model.EmbedDim(), scale: net.Model.Config().MatchingScale()}
}

// predict returns the predicted class of query q.
func (e *episodeEmbeddings) predict(c Classifier, q []float32, score ScoreFunc) int {
	best, bestClass := math.Inf(1), 0
	for class, rows := range e.support {
		shots := len(rows) / e.dim
		var d float64
		switch c {
		case Attention:
			// minus the class's share of exp(scale·cos) over the support
			// set: the softmax's normaliser is the same for every class
			for s := 0; s < shots; s++ {
				d -= math.Exp(e.scale * cosine(rows[s*e.dim:(s+1)*e.dim], q))
			}
		case NearestNeighbour, SiameseHead:
			d = math.Inf(1)
			for s := 0; s < shots; s++ {
				row := rows[s*e.dim : (s+1)*e.dim]
				var v float64
				if c == SiameseHead {
					v = -float64(score(row, q))
				} else {
					v = sqDist(row, q)
				}
				d = math.Min(d, v)
			}
		default:
			for j := 0; j < e.dim; j++ {
				var m float64
				for s := 0; s < shots; s++ {
					m += float64(rows[s*e.dim+j])
				}
				m /= float64(shots)
				diff := m - float64(q[j])
				d += diff * diff
			}
		}
		if d < best {
			best, bestClass = d, class
		}
	}
	return bestClass
}

// cosine is a·b / (‖a‖‖b‖) with model.CosineEps under each square root,
// as the matching loss computes it, so a zero vector has cosine 0.
func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	return ab / (math.Sqrt(aa+model.CosineEps) * math.Sqrt(bb+model.CosineEps))
}

func sqDist(a, b []float32) float64 {
	var d float64
	for i := range a {
		x := float64(a[i]) - float64(b[i])
		d += x * x
	}
	return d
}
