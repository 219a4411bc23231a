package eval

import (
	"fmt"
	"math"
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
)

// ParseClassifier checks a classifier name from a flag or config.
func ParseClassifier(s string) (Classifier, error) {
	switch c := Classifier(s); c {
	case "", NearestPrototype:
		return NearestPrototype, nil
	case NearestNeighbour, "nn", "neighbor":
		return NearestNeighbour, nil
	case SiameseHead:
		return SiameseHead, nil
	}
	return "", fmt.Errorf("unknown classifier %q (want prototype, neighbour or siamese)", s)
}

// ScoreFunc gives the Siamese head's same-class score of two embeddings;
// higher means more alike.
type ScoreFunc func(e1, e2 []float32) float32

// episodeEmbeddings holds one episode's embeddings: way*shot support rows,
// class by class, then the queries; dim floats each.
type episodeEmbeddings struct {
	support [][]float32 // [class][shot*dim]
	dim     int
}

// predict returns the predicted class of query q.
func (e *episodeEmbeddings) predict(c Classifier, q []float32, score ScoreFunc) int {
	best, bestClass := math.Inf(1), 0
	for class, rows := range e.support {
		shots := len(rows) / e.dim
		var d float64
		switch c {
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

func sqDist(a, b []float32) float64 {
	var d float64
	for i := range a {
		x := float64(a[i]) - float64(b[i])
		d += x * x
	}
	return d
}
