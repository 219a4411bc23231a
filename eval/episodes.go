package eval

import (
	"fmt"
	"math"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// Net is a trained embedding: the model and the vectors of one checkpoint.
type Net struct {
	Model  *model.Model
	Params params.Vector
	State  params.Vector
}

// EpisodeConfig is the random-episodes protocol: Episodes episodes of
// Way-way Shot-shot with Query queries per class, drawn from Seed, and
// classified by Classifier (empty: DefaultClassifier of the model).
type EpisodeConfig struct {
	Way, Shot, Query int
	Episodes         int
	Seed             uint64
	Classifier       Classifier
}

func (c EpisodeConfig) withDefaults() EpisodeConfig {
	if c.Way == 0 {
		c.Way = 5
	}
	if c.Shot == 0 {
		c.Shot = 1
	}
	if c.Query == 0 {
		c.Query = 15
	}
	if c.Episodes == 0 {
		c.Episodes = 1000
	}
	if c.Classifier == "" {
		c.Classifier = NearestPrototype
	}
	return c
}

// Report is one figure with the protocol that produced it.
type Report struct {
	Protocol    string     `json:"protocol"`
	Way         int        `json:"way"`
	Shot        int        `json:"shot"`
	Query       int        `json:"query,omitempty"`
	Seed        uint64     `json:"seed"`
	Classifier  Classifier `json:"classifier"`
	Dataset     string     `json:"dataset"`
	Fingerprint string     `json:"fingerprint"`
	Summary
}

// String is the figure as one line: accuracy ± CI and its protocol.
func (r Report) String() string {
	return fmt.Sprintf("%.2f%% ± %.2f%%  (%s; %s; %s classifier; seed %d; dataset %s %.12s)",
		100*r.Mean, 100*r.CI95, r.Protocol, plural(r.Episodes, "episode"), r.Classifier, r.Seed, r.Dataset, r.Fingerprint)
}

func plural(n int, s string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", s)
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// embedBatch is how many images go through the network at once.
const embedBatch = 256

// Episodes measures net on random episodes over ds's classes. Every image
// an episode uses is embedded once (batch norm in evaluation mode), then
// each episode is classified from the embedding table, so the cost is one
// forward pass per distinct image. progress, when not nil, is called with
// (done, total) work units as it goes.
func Episodes(net Net, ds *episodes.Dataset, cfg EpisodeConfig, progress func(done, total int)) (Report, error) {
	if cfg.Classifier == "" && net.Model != nil {
		cfg.Classifier = DefaultClassifier(net.Model.Config())
	}
	cfg = cfg.withDefaults()
	if cfg.Classifier == SiameseHead && net.Model.Config().Loss != params.KindPairs {
		return Report{}, fmt.Errorf("evaluate: the siamese classifier needs a model trained with the siamese loss")
	}
	es, err := episodes.NewEvalSampler(ds, cfg.Way, cfg.Shot, cfg.Query)
	if err != nil {
		return Report{}, fmt.Errorf("evaluate %d-way %d-shot on %q: %w", cfg.Way, cfg.Shot, ds.Name, err)
	}
	type ep struct {
		refs   []episodes.ImageRef
		labels []int32
	}
	eps := make([]ep, cfg.Episodes)
	index := map[episodes.ImageRef]int{}
	var order []episodes.ImageRef
	for i := range eps {
		refs, labels := es.EpisodeRefs(cfg.Seed, i)
		eps[i] = ep{refs, labels}
		for _, r := range refs {
			if _, ok := index[r]; !ok {
				index[r] = len(order)
				order = append(order, r)
			}
		}
	}
	total := len(order) + cfg.Episodes
	table, err := embedRefs(net, ds, order, func(done int) {
		if progress != nil {
			progress(done, total)
		}
	})
	if err != nil {
		return Report{}, err
	}
	dim := net.Model.EmbedDim()
	row := func(r episodes.ImageRef) []float32 { k := index[r]; return table[k*dim : (k+1)*dim] }
	score := scoreFunc(net, cfg.Classifier)
	acc := make([]float64, cfg.Episodes)
	for i, e := range eps {
		ee := episodeEmbeddings{support: make([][]float32, cfg.Way), dim: dim}
		for w := 0; w < cfg.Way; w++ {
			for k := 0; k < cfg.Shot; k++ {
				ee.support[w] = append(ee.support[w], row(e.refs[w*cfg.Shot+k])...)
			}
		}
		correct, n := 0, 0
		for q := cfg.Way * cfg.Shot; q < len(e.refs); q++ {
			if ee.predict(cfg.Classifier, row(e.refs[q]), score) == int(e.labels[q]) {
				correct++
			}
			n++
		}
		acc[i] = float64(correct) / float64(n)
		if progress != nil && (i+1)%50 == 0 {
			progress(len(order)+i+1, total)
		}
	}
	if progress != nil {
		progress(total, total)
	}
	return Report{
		Protocol: fmt.Sprintf("random episodes, %d-way %d-shot, %d queries per class", cfg.Way, cfg.Shot, cfg.Query),
		Way:      cfg.Way, Shot: cfg.Shot, Query: cfg.Query, Seed: cfg.Seed, Classifier: cfg.Classifier,
		Dataset: ds.Name, Fingerprint: ds.Fingerprint(), Summary: Summarize(acc),
	}, nil
}

// scoreFunc is the Siamese head of net for the SiameseHead classifier, nil
// otherwise. Embeddings come from net itself, so lengths always fit and a
// scoring error (a bug) scores the pair as unlike as possible.
func scoreFunc(net Net, c Classifier) ScoreFunc {
	if c != SiameseHead {
		return nil
	}
	return func(e1, e2 []float32) float32 {
		s, err := net.Model.PairScore(net.Params, e1, e2)
		if err != nil {
			return float32(math.Inf(-1))
		}
		return s
	}
}

// embedRefs embeds the images refs name, in order, embedBatch at a time.
func embedRefs(net Net, ds *episodes.Dataset, refs []episodes.ImageRef, progress func(done int)) ([]float32, error) {
	dim := net.Model.EmbedDim()
	px := ds.Size * ds.Size
	out := make([]float32, 0, len(refs)*dim)
	buf := make([]uint8, embedBatch*px)
	for start := 0; start < len(refs); start += embedBatch {
		n := min(embedBatch, len(refs)-start)
		for i := 0; i < n; i++ {
			r := refs[start+i]
			ds.ClassImage(r.Class, r.Image, buf[i*px:(i+1)*px])
		}
		e, err := net.Model.Embed(net.Params, net.State, buf[:n*px], n)
		if err != nil {
			return nil, fmt.Errorf("evaluate: embed images %d..%d of %q: %w", start, start+n-1, ds.Name, err)
		}
		out = append(out, e...)
		progress(start + n)
	}
	return out, nil
}
