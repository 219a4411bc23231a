package eval

import (
	"fmt"
	"math"
	"strings"

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
	pl, err := NewPlan(net, ds, cfg)
	if err != nil {
		return Report{}, err
	}
	total := len(pl.order) + pl.cfg.Episodes
	dim := net.Model.EmbedDim()
	table := make([]float32, 0, len(pl.order)*dim)
	for k := range pl.Shards() {
		b := pl.Batch(k)
		e, err := net.Model.Embed(net.Params, net.State, b.Pixels, b.Images())
		if err != nil {
			return Report{}, fmt.Errorf("evaluate: embed images %d..%d of %q: %w", k*embedBatch, k*embedBatch+b.Images()-1, ds.Name, err)
		}
		table = append(table, e...)
		if progress != nil {
			progress(min((k+1)*embedBatch, len(pl.order)), total)
		}
	}
	return pl.report(table, func(done int) {
		if progress != nil {
			progress(len(pl.order)+done, total)
		}
	})
}

// Plan is an evaluation on random episodes cut into work a coordinator can
// hand out: shard k embeds images k·256.. of the episodes' images (each
// once, in the order the episodes first use them), and the classification
// of every episode from those embeddings comes last (Finish). Episodes runs
// the same shards in one process, so a run sharded over workers of the
// job's compute class gives exactly its numbers.
type Plan struct {
	net   Net
	ds    *episodes.Dataset
	cfg   EpisodeConfig
	eps   []planEpisode
	index map[episodes.ImageRef]int
	order []episodes.ImageRef
}

type planEpisode struct {
	refs   []episodes.ImageRef
	labels []int32
}

// NewPlan draws the episodes of cfg from ds for net (whose model embeds and,
// for the Siamese classifier, scores; its vectors are used only by Finish).
func NewPlan(net Net, ds *episodes.Dataset, cfg EpisodeConfig) (*Plan, error) {
	if cfg.Classifier == "" && net.Model != nil {
		cfg.Classifier = DefaultClassifier(net.Model.Config())
	}
	cfg = cfg.withDefaults()
	if cfg.Classifier == SiameseHead && net.Model.Config().Loss != params.KindPairs {
		return nil, fmt.Errorf("evaluate: the siamese classifier needs a model trained with the siamese loss")
	}
	if net.Model != nil && ds.Channels != net.Model.Config().InputChannels() {
		return nil, fmt.Errorf("evaluate on %q: its images have %d channels, the model takes %d", ds.Name, ds.Channels, net.Model.Config().InputChannels())
	}
	es, err := episodes.NewEvalSampler(ds, cfg.Way, cfg.Shot, cfg.Query)
	if err != nil {
		return nil, fmt.Errorf("evaluate %d-way %d-shot on %q: %w", cfg.Way, cfg.Shot, ds.Name, err)
	}
	pl := &Plan{net: net, ds: ds, cfg: cfg, eps: make([]planEpisode, cfg.Episodes), index: map[episodes.ImageRef]int{}}
	for i := range pl.eps {
		refs, labels := es.EpisodeRefs(cfg.Seed, i)
		pl.eps[i] = planEpisode{refs, labels}
		for _, r := range refs {
			if _, ok := pl.index[r]; !ok {
				pl.index[r] = len(pl.order)
				pl.order = append(pl.order, r)
			}
		}
	}
	return pl, nil
}

// Shards is the number of embedding shards.
func (pl *Plan) Shards() int { return (len(pl.order) + embedBatch - 1) / embedBatch }

// ShardImages is the number of images shard k embeds.
func (pl *Plan) ShardImages(k int) int { return min(embedBatch, len(pl.order)-k*embedBatch) }

// Batch is shard k's images (params.KindEmbed): what a worker embeds.
func (pl *Plan) Batch(k int) *params.Batch {
	refs := pl.order[k*embedBatch : min((k+1)*embedBatch, len(pl.order))]
	px := pl.ds.BytesPerImage()
	b := &params.Batch{Kind: params.KindEmbed, Size: pl.ds.Size, Channels: pl.ds.BatchChannels(), Pixels: make([]uint8, len(refs)*px), Labels: make([]int32, len(refs))}
	for i, r := range refs {
		pl.ds.ClassImage(r.Class, r.Image, b.Pixels[i*px:(i+1)*px])
	}
	return b
}

// Finish classifies every episode from the shards' embeddings, given in
// shard order (each Batch(k).Images() × the model's embedding size).
func (pl *Plan) Finish(shards [][]float32) (Report, error) {
	dim := pl.net.Model.EmbedDim()
	if len(shards) != pl.Shards() {
		return Report{}, fmt.Errorf("evaluate: %d embedding shards, want %d", len(shards), pl.Shards())
	}
	table := make([]float32, 0, len(pl.order)*dim)
	for k, e := range shards {
		if want := pl.ShardImages(k) * dim; len(e) != want {
			return Report{}, fmt.Errorf("evaluate: shard %d holds %d values, want %d", k, len(e), want)
		}
		table = append(table, e...)
	}
	return pl.report(table, nil)
}

// report classifies the episodes from the embeddings of pl.order.
func (pl *Plan) report(table []float32, progress func(done int)) (Report, error) {
	cfg, net := pl.cfg, pl.net
	dim := net.Model.EmbedDim()
	row := func(r episodes.ImageRef) []float32 { k := pl.index[r]; return table[k*dim : (k+1)*dim] }
	score := scoreFunc(net, cfg.Classifier)
	acc := make([]float64, cfg.Episodes)
	for i, e := range pl.eps {
		ee := newEpisodeEmbeddings(net, cfg.Way)
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
			progress(i + 1)
		}
	}
	if progress != nil {
		progress(cfg.Episodes)
	}
	return Report{
		Protocol: fmt.Sprintf("random episodes, %d-way %d-shot, %d queries per class", cfg.Way, cfg.Shot, cfg.Query),
		Way:      cfg.Way, Shot: cfg.Shot, Query: cfg.Query, Seed: cfg.Seed, Classifier: cfg.Classifier,
		Dataset: pl.ds.Name, Fingerprint: pl.ds.Fingerprint(), Summary: Summarize(acc),
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

// Work is several plans (protocols) one after another, as a coordinator
// hands out their shards (coordinator.EvalWork). Finish names each
// protocol's figures "<way>way<shot>shot_acc" and "..._ci95".
type Work struct {
	plans []*Plan
	dim   int
}

// NewWork plans each protocol of cfgs on ds for net.
func NewWork(net Net, ds *episodes.Dataset, cfgs []EpisodeConfig) (*Work, error) {
	w := &Work{dim: net.Model.EmbedDim()}
	for _, c := range cfgs {
		pl, err := NewPlan(net, ds, c)
		if err != nil {
			return nil, err
		}
		w.plans = append(w.plans, pl)
	}
	return w, nil
}

// MetricName is the name of a protocol's accuracy among Work's figures;
// its CI is the same name with _ci95 for _acc.
func MetricName(way, shot int) string { return fmt.Sprintf("%dway%dshot_acc", way, shot) }

// at is the plan of shard k and k's index in it.
func (w *Work) at(k int) (*Plan, int) {
	for _, pl := range w.plans {
		if k < pl.Shards() {
			return pl, k
		}
		k -= pl.Shards()
	}
	return nil, -1
}

// Shards is the number of shards of all the plans.
func (w *Work) Shards() int {
	n := 0
	for _, pl := range w.plans {
		n += pl.Shards()
	}
	return n
}

// Batch is shard k's images.
func (w *Work) Batch(k int) *params.Batch { pl, i := w.at(k); return pl.Batch(i) }

// Len is the number of values shard k's result holds.
func (w *Work) Len(k int) int { pl, i := w.at(k); return pl.ShardImages(i) * w.dim }

// Finish classifies every plan's episodes from the shards' results (their
// Grads are the embeddings), given in shard order.
func (w *Work) Finish(results []params.Result) (map[string]float64, error) {
	if len(results) != w.Shards() {
		return nil, fmt.Errorf("evaluate: %d results, want %d", len(results), w.Shards())
	}
	m := map[string]float64{}
	for _, pl := range w.plans {
		shards := make([][]float32, pl.Shards())
		for k := range shards {
			shards[k] = results[0].Grads
			results = results[1:]
		}
		r, err := pl.Finish(shards)
		if err != nil {
			return nil, err
		}
		name := MetricName(r.Way, r.Shot)
		m[name], m[strings.TrimSuffix(name, "_acc")+"_ci95"] = r.Mean, r.CI95
	}
	return m, nil
}
