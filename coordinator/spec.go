package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
)

// JobSpec is everything that defines a training job: two runs with equal
// specs (and equal datasets) end with bit-identical parameters, whatever the
// workers do. DefaultSpec (which WithDefaults fills zero fields from)
// trains a prototypical Conv-4 on the synthetic glyphs for a minute or two
// on a laptop; the defaults named below are its values.
type JobSpec struct {
	// ID names the job in subjects and in the checkpoint store.
	ID string `yaml:"id" json:"id"`
	// Loss is "proto" (default), "matching" (Matching Networks, on the
	// same episodes as proto), "triplet" (see Triplet for mined triplets)
	// or "siamese".
	Loss string `yaml:"loss" json:"loss"`
	// Dataset is an episodes.Open spec: "glyphs" (default) or a path.
	Dataset string `yaml:"dataset" json:"dataset"`
	// Size is the image side in pixels (default 28).
	Size int `yaml:"size" json:"size"`
	// Channels is the images' colour planes: 1 (default, grayscale) or 3
	// (RGB: image trees and miniImageNet decode their colours, the glyphs
	// are drawn in colour; Omniglot has none). A grayscale spec's JSON
	// leaves it out (MarshalJSON), so stored grayscale jobs keep their
	// bytes.
	Channels int `yaml:"channels" json:"channels,omitempty"`
	// Rotations adds 90° rotations of each class as new classes.
	Rotations bool `yaml:"rotations" json:"rotations"`
	// Split is the training split (default "train": the background classes
	// minus the validation alphabets), ValSplit the classes validation
	// measures (default "val") and TestSplit those the final evaluation
	// measures (default "test"). Each is a split name (see episodes.Select)
	// or a class-list file (episodes.SplitFile): "vinyals/trainval" names
	// splits/vinyals/trainval.txt beside the Omniglot zips, and a path
	// ending in .txt a file of its own.
	Split     string `yaml:"split" json:"split"`
	ValSplit  string `yaml:"val_split" json:"val_split,omitempty"`
	TestSplit string `yaml:"test_split" json:"test_split,omitempty"`
	// Way, Shot and Query shape each proto or matching shard's episode
	// (default 10, 1, 2).
	Way   int `yaml:"way" json:"way"`
	Shot  int `yaml:"shot" json:"shot"`
	Query int `yaml:"query" json:"query"`
	// Pairs per siamese shard (default 30) and Triplets per triplet shard
	// (default 20; triplets the sampler draws, without mining).
	Pairs    int `yaml:"pairs" json:"pairs"`
	Triplets int `yaml:"triplets" json:"triplets"`
	// Triplet chooses mined triplets for the triplet loss (default: none).
	Triplet TripletSpec `yaml:"triplet" json:"triplet"`
	// Matching tunes the matching loss.
	Matching MatchingSpec `yaml:"matching" json:"matching,omitzero"`
	// Shards is the number of shards each step is cut into (default 2).
	Shards int `yaml:"shards" json:"shards"`
	// Steps is the number of optimizer steps (default 400).
	Steps int `yaml:"steps" json:"steps"`
	// Seed fixes initialisation and every batch (default 1).
	Seed uint64 `yaml:"seed" json:"seed"`
	// Margin is the triplet margin on squared distances, of sampled and
	// mined triplets alike (default model.DefaultMargin).
	Margin float32 `yaml:"margin" json:"margin"`
	// BNMomentum is the running batch-norm statistics' momentum (default
	// model.DefaultMomentum).
	BNMomentum float32 `yaml:"bn_momentum" json:"bn_momentum"`
	// Optimizer configures the optimizer (default Adam, lr 1e-3).
	Optimizer params.OptimizerConfig `yaml:"optimizer" json:"optimizer"`
	// CheckpointEvery writes a checkpoint every this many steps (default
	// 100); the last step is always checkpointed.
	CheckpointEvery int `yaml:"checkpoint_every" json:"checkpoint_every"`
	// EvalEvery validates on held-out classes every this many steps (and
	// after the last); 0 never. The best checkpoint is picked by val_acc; a
	// validation between two checkpoints writes one of its own.
	EvalEvery int `yaml:"eval_every" json:"eval_every"`
	// LeaseTimeout is how long a worker may hold a shard (default 30s).
	LeaseTimeout Duration `yaml:"lease_timeout" json:"lease_timeout"`
	// HeartbeatTimeout declares a silent worker lost (default 10s).
	HeartbeatTimeout Duration `yaml:"heartbeat_timeout" json:"heartbeat_timeout"`
	// AllowMixedClasses admits workers whose compute class (their canary,
	// model.Canary) differs from the job's first worker's. Their bits
	// differ, so the final parameters then match no single class's
	// reference run; the job record and its checkpoints say so. Off by
	// default: such workers are refused.
	AllowMixedClasses bool `yaml:"allow_mixed_classes" json:"allow_mixed_classes,omitempty"`
	// ComputeClass names the job's compute class from the start: the
	// canary (model.Canary, lower-case hex) a worker must send, whole or
	// its first MinComputeClassDigits or more digits, as the coordinator's
	// "job compute class" and a worker's "joined" log lines show it. The
	// canary is of the job's model, so it is taken from a job of the same
	// model settings. Empty (default): the job's class is its first
	// worker's. Either way a worker of another class is refused unless
	// AllowMixedClasses.
	ComputeClass string `yaml:"compute_class" json:"compute_class,omitempty"`
	// Verify is the fraction of each step's shards, from 0 (default: off)
	// to 1, that two different workers compute and whose bits must agree;
	// a worker whose bits differ from two others' is banned and the job
	// rolls back past its results (see SECURITY.md). It costs about that
	// fraction of extra computation, needs two workers (three to settle a
	// disagreement), and does not change the parameters: a run may change
	// it when it resumes.
	Verify float64 `yaml:"verify" json:"verify,omitempty"`
	// Pipeline is the pipeline depth k, from 0 (default) to MaxPipeline:
	// step s's gradients are computed from the parameters of version
	// s−k (version 0 for the first k steps), so workers compute the next
	// k steps while a step is summed and applied. The result depends on k
	// (a delayed gradient: another recipe, not another speed), and for
	// each k it is the same bits whatever the workers do; `bench train`
	// applies the same rule. A checkpoint then also holds the k parameter
	// versions before its own.
	Pipeline int `yaml:"pipeline" json:"pipeline,omitempty"`
	// Patience stops the job early once this many validations in a row
	// (eval_every apart) have not raised the best val_acc; the best
	// checkpoint is the one to use. 0 (default): train all the steps. A job
	// that stopped early stays stopped when rerun.
	Patience int `yaml:"patience" json:"patience,omitempty"`
	// Eval is the evaluation a serving coordinator (fsl-coord serve) runs
	// when the job ends, whose figures `fsl-coord results` tabulates; it
	// changes no parameter. Zero fields take EvalSpec.WithDefaults's.
	Eval EvalSpec `yaml:"eval" json:"eval,omitzero"`
}

// EvalSpec is the eval: block of a job: random episodes on the test split
// (TestSplit), one protocol per way × shot.
type EvalSpec struct {
	// Way and Shot list the protocols' ways and shots (default [5], [1]).
	Way  []int `yaml:"way" json:"way,omitempty"`
	Shot []int `yaml:"shot" json:"shot,omitempty"`
	// Query images per class (default 15), Episodes per protocol (default
	// 200) and the episodes' Seed (default 1).
	Query    int    `yaml:"query" json:"query,omitempty"`
	Episodes int    `yaml:"episodes" json:"episodes,omitempty"`
	Seed     uint64 `yaml:"seed" json:"seed,omitempty"`
}

// WithDefaults returns e with zero fields set to their defaults.
func (e EvalSpec) WithDefaults() EvalSpec {
	if len(e.Way) == 0 {
		e.Way = []int{5}
	}
	if len(e.Shot) == 0 {
		e.Shot = []int{1}
	}
	if e.Query == 0 {
		e.Query = 15
	}
	if e.Episodes == 0 {
		e.Episodes = 200
	}
	if e.Seed == 0 {
		e.Seed = 1
	}
	return e
}

// TripletSpec is the triplet: block of a job.
type TripletSpec struct {
	// Mining is "none" (default: each shard is Triplets triplets the
	// sampler draws at random, as before mining existed), "batch-hard" or
	// "semi-hard": each shard is Classes classes × Images images, and the
	// loss mines its triplets from their embeddings (model.Mining) with
	// the spec's margin.
	Mining string `yaml:"mining" json:"mining"`
	// Classes per mined shard (P, default 16) and Images of each (K,
	// default 4).
	Classes int `yaml:"classes" json:"classes"`
	Images  int `yaml:"images" json:"images"`
}

// MatchingSpec is the matching: block of a job.
type MatchingSpec struct {
	// Temperature divides each cosine before the attention's softmax
	// (model.Config.Temperature): 0 (default) or 1 is Vinyals et al.'s
	// plain cosine, whose softmax over a 60-image support set is nearly
	// flat; 0.1 sharpens it tenfold.
	Temperature float32 `yaml:"temperature" json:"temperature,omitempty"`
}

// MiningNone is TripletSpec.Mining's default: no mining.
const MiningNone = "none"

// Duration is a time.Duration written as "30s" in YAML and JSON.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// DefaultSpec is the job every default comes from: the flags' defaults,
// the values WithDefaults fills in, and the docs above. It trains a
// prototypical Conv-4 on the synthetic glyphs.
func DefaultSpec() JobSpec {
	return JobSpec{
		ID:               "fsl",
		Loss:             "proto",
		Dataset:          "glyphs",
		Size:             episodes.DefaultSize,
		Channels:         params.Gray,
		Split:            episodes.SplitTrain,
		ValSplit:         episodes.SplitVal,
		TestSplit:        episodes.SplitTest,
		Way:              10,
		Shot:             1,
		Query:            2,
		Pairs:            30,
		Triplets:         20,
		Triplet:          TripletSpec{Mining: MiningNone, Classes: 16, Images: 4},
		Shards:           2,
		Steps:            400,
		Seed:             1,
		Margin:           model.DefaultMargin,
		BNMomentum:       model.DefaultMomentum,
		Optimizer:        params.DefaultOptimizerConfig(),
		CheckpointEvery:  100,
		LeaseTimeout:     Duration(machine.DefaultLeaseTimeout),
		HeartbeatTimeout: Duration(machine.DefaultHeartbeatTimeout),
	}
}

// WithDefaults returns s with zero fields set to DefaultSpec's (the
// optimizer's zero fields to params' defaults for its kind). It is applied
// once, where a spec is made (from flags and YAML, or read back from a
// store); NewDriver, NewTrainer and RunLocal take the result as it is.
func (s JobSpec) WithDefaults() JobSpec {
	d := DefaultSpec()
	str := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	num := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	str(&s.ID, d.ID)
	str(&s.Loss, d.Loss)
	str(&s.Dataset, d.Dataset)
	str(&s.Split, d.Split)
	str(&s.ValSplit, d.ValSplit)
	str(&s.TestSplit, d.TestSplit)
	num(&s.Size, d.Size)
	num(&s.Channels, d.Channels)
	num(&s.Way, d.Way)
	num(&s.Shot, d.Shot)
	num(&s.Query, d.Query)
	num(&s.Pairs, d.Pairs)
	num(&s.Triplets, d.Triplets)
	str(&s.Triplet.Mining, d.Triplet.Mining)
	num(&s.Triplet.Classes, d.Triplet.Classes)
	num(&s.Triplet.Images, d.Triplet.Images)
	num(&s.Shards, d.Shards)
	num(&s.Steps, d.Steps)
	num(&s.CheckpointEvery, d.CheckpointEvery)
	if s.Seed == 0 {
		s.Seed = d.Seed
	}
	if s.Margin == 0 {
		s.Margin = d.Margin
	}
	if s.BNMomentum == 0 {
		s.BNMomentum = d.BNMomentum
	}
	if s.LeaseTimeout == 0 {
		s.LeaseTimeout = d.LeaseTimeout
	}
	if s.HeartbeatTimeout == 0 {
		s.HeartbeatTimeout = d.HeartbeatTimeout
	}
	// Not d.Optimizer: an SGD optimizer's default lr is not Adam's.
	s.Optimizer = s.Optimizer.WithDefaults()
	return s
}

// Kind is the batch kind the spec's loss trains on: mined triplets train
// on params.KindClasses.
func (s JobSpec) Kind() (params.Kind, error) {
	switch s.Loss {
	case "proto", "prototypical", "matching":
		return params.KindEpisode, nil
	case "triplet":
		if s.Triplet.Mining != MiningNone {
			return params.KindClasses, nil
		}
		return params.KindTriplets, nil
	case "siamese", "pairs":
		return params.KindPairs, nil
	}
	return 0, fmt.Errorf("job %q: loss %q unknown, want proto, matching, triplet or siamese", s.ID, s.Loss)
}

// mining is the model's mining of the spec's triplet.mining: 0 for none.
func (s JobSpec) mining() (model.Mining, error) {
	if s.Triplet.Mining == MiningNone {
		return 0, nil
	}
	m, err := model.ParseMining(s.Triplet.Mining)
	if err != nil {
		return 0, fmt.Errorf("job %q: triplet.mining: %w, or none", s.ID, err)
	}
	if s.Loss != "triplet" {
		return 0, fmt.Errorf("job %q: triplet.mining %s: the %s loss mines nothing; use loss triplet or mining none", s.ID, s.Triplet.Mining, s.Loss)
	}
	return m, nil
}

// Validate reports every field of the spec at fault. It fills in no
// defaults: a zero field that WithDefaults would fill is an error here.
func (s JobSpec) Validate() error {
	var errs []error
	if err := wire.ValidateJob(s.ID); err != nil {
		errs = append(errs, fmt.Errorf("job id: %w", err))
	}
	if _, err := s.Kind(); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.mining(); err != nil {
		errs = append(errs, err)
	}
	if t := s.Matching.Temperature; t != 0 {
		switch {
		case s.Loss != "matching":
			errs = append(errs, fmt.Errorf("job %q: matching.temperature %v: the %s loss has no temperature; use loss matching or leave it out", s.ID, t, s.Loss))
		case !(t >= model.MinTemperature && t <= model.MaxTemperature):
			errs = append(errs, fmt.Errorf("job %q: matching.temperature %v, want %v..%v", s.ID, t, model.MinTemperature, model.MaxTemperature))
		}
	}
	if s.Triplet.Classes < 2 || s.Triplet.Images < 2 {
		errs = append(errs, fmt.Errorf("job %q: triplet.classes %d × triplet.images %d, want 2 or more of each (an anchor needs a positive and a negative)",
			s.ID, s.Triplet.Classes, s.Triplet.Images))
	}
	if s.Shards < 1 || s.Shards > machine.MaxShardsPerStep {
		errs = append(errs, fmt.Errorf("job %q: shards %d, want 1..%d", s.ID, s.Shards, machine.MaxShardsPerStep))
	}
	if s.Steps < 1 {
		errs = append(errs, fmt.Errorf("job %q: steps %d, want at least 1", s.ID, s.Steps))
	}
	if s.Dataset == "" {
		errs = append(errs, fmt.Errorf("job %q: dataset is empty", s.ID))
	}
	if s.Split == "" {
		errs = append(errs, fmt.Errorf("job %q: split is empty", s.ID))
	}
	if s.Channels != params.Gray && s.Channels != params.RGB {
		errs = append(errs, fmt.Errorf("job %q: channels %d, want %d (grayscale) or %d (RGB)", s.ID, s.Channels, params.Gray, params.RGB))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"size", s.Size}, {"way", s.Way}, {"shot", s.Shot}, {"query", s.Query}, {"pairs", s.Pairs}, {"triplets", s.Triplets}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("job %q: %s %d, want at least 1", s.ID, f.name, f.v))
		}
	}
	if err := s.CheckWay(); err != nil {
		errs = append(errs, fmt.Errorf("job %q: way %w", s.ID, err))
	}
	if err := CheckComputeClass(s.ComputeClass); err != nil {
		errs = append(errs, fmt.Errorf("job %q: %w", s.ID, err))
	}
	if s.LeaseTimeout <= 0 {
		errs = append(errs, fmt.Errorf("job %q: lease_timeout %v, want positive", s.ID, time.Duration(s.LeaseTimeout)))
	}
	if s.HeartbeatTimeout <= 0 {
		errs = append(errs, fmt.Errorf("job %q: heartbeat_timeout %v, want positive", s.ID, time.Duration(s.HeartbeatTimeout)))
	}
	if !(s.Verify >= 0 && s.Verify <= 1) {
		errs = append(errs, fmt.Errorf("job %q: verify %v, want 0 (off) to 1", s.ID, s.Verify))
	}
	if s.Pipeline < 0 || s.Pipeline > machine.MaxPipeline {
		errs = append(errs, fmt.Errorf("job %q: pipeline %d, want 0 (off) to %d", s.ID, s.Pipeline, machine.MaxPipeline))
	}
	if s.Patience < 0 || (s.Patience > 0 && s.EvalEvery <= 0) {
		errs = append(errs, fmt.Errorf("job %q: patience %d with eval_every %d: want 0 (off), or validations to wait with eval_every set", s.ID, s.Patience, s.EvalEvery))
	}
	if s.EvalEvery < 0 {
		errs = append(errs, fmt.Errorf("job %q: eval_every %d, want 0 or more", s.ID, s.EvalEvery))
	}
	if s.CheckpointEvery < 0 {
		errs = append(errs, fmt.Errorf("job %q: checkpoint_every %d, want 0 or more", s.ID, s.CheckpointEvery))
	}
	if !(s.BNMomentum > 0 && s.BNMomentum <= 1) {
		errs = append(errs, fmt.Errorf("job %q: bn_momentum %v, want (0, 1]", s.ID, s.BNMomentum))
	}
	if err := s.Optimizer.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("job %q: %w", s.ID, err))
	}
	if _, err := model.New(s.ModelConfig()); err != nil {
		errs = append(errs, fmt.Errorf("job %q: %w", s.ID, err))
	}
	for _, f := range []struct {
		name string
		v    []int
		min  int
	}{{"eval.way", s.Eval.Way, 2}, {"eval.shot", s.Eval.Shot, 1}} {
		for _, n := range f.v {
			if n < f.min {
				errs = append(errs, fmt.Errorf("job %q: %s %v, want each ≥ %d", s.ID, f.name, f.v, f.min))
				break
			}
		}
	}
	if s.Eval.Query < 0 || s.Eval.Episodes < 0 {
		errs = append(errs, fmt.Errorf("job %q: eval.query %d and eval.episodes %d must not be negative", s.ID, s.Eval.Query, s.Eval.Episodes))
	}
	return errors.Join(errs...)
}

// MinComputeClassDigits is the fewest hex digits of a canary that
// JobSpec.ComputeClass may give: as many as logs show (48 bits, which two
// classes share by chance about never).
const MinComputeClassDigits = 12

// CheckWay refuses an episode of fewer than 2 classes (proto and matching
// jobs; triplet and siamese shards take no way); a way below 1 is the
// plain field checks' to refuse. Its error starts with the way, for the
// caller to name the field or flag before it.
func (s JobSpec) CheckWay() error {
	if k, err := s.Kind(); err == nil && k == params.KindEpisode && s.Way == 1 {
		return fmt.Errorf("%d: a %s episode needs 2 classes or more (with one, every query is right whatever the network)", s.Way, s.Loss)
	}
	return nil
}

// CheckComputeClass checks a JobSpec.ComputeClass: empty, or 12 to 64
// lower-case hex digits.
func CheckComputeClass(c string) error {
	if c == "" {
		return nil
	}
	hex := strings.Trim(c, "0123456789abcdef") == ""
	if !hex || len(c) < MinComputeClassDigits || len(c) > 64 {
		return fmt.Errorf("compute_class %q: want a worker's canary: %d to 64 lower-case hex digits, "+
			"as the coordinator's \"job compute class\" and a worker's \"joined\" log lines show it", c, MinComputeClassDigits)
	}
	return nil
}

// SamplerConfig is what one shard's batch holds.
func (s JobSpec) SamplerConfig() episodes.SamplerConfig {
	k, _ := s.Kind()
	return episodes.SamplerConfig{Kind: k, Way: s.Way, Shot: s.Shot, Query: s.Query, Pairs: s.Pairs, Triplets: s.Triplets,
		Classes: s.Triplet.Classes, PerClass: s.Triplet.Images}
}

// ImagesPerStep is the number of images one step computes on.
func (s JobSpec) ImagesPerStep() int { return s.SamplerConfig().Images() * s.Shards }

// ModelConfig is the network the spec trains. Workers build their model
// from it (see EncodeModelConfig).
func (s JobSpec) ModelConfig() model.Config {
	k, _ := s.Kind()
	mining, _ := s.mining()
	c := model.Config{Loss: k, Size: s.Size, Margin: s.Margin, Matching: s.Loss == "matching", Mining: mining,
		Temperature: s.Matching.Temperature}
	if s.Channels != params.Gray {
		c.Channels = s.Channels // grayscale stays zero: the model config workers got before colour existed
	}
	return c
}

// DatasetOptions opens the training split of the spec's dataset.
func (s JobSpec) DatasetOptions() episodes.Options {
	return episodes.Options{Size: s.Size, Channels: s.Channels, Rotations: s.Rotations, Split: s.Split}
}

// SplitOptions opens split (the spec's ValSplit or TestSplit) of the spec's
// dataset for evaluation: unrotated classes, unless the split is a class
// list, which gives each class's rotation.
func (s JobSpec) SplitOptions(split string) episodes.Options {
	return episodes.Options{Size: s.Size, Channels: s.Channels, Split: split}
}

// CheckSplits reads the spec's class-list splits, if any, and reports a
// test class whose character the training split holds (naming the line):
// its figures would measure memory, not few-shot learning.
func (s JobSpec) CheckSplits() error {
	train, test := s.DatasetOptions(), s.SplitOptions(s.TestSplit)
	for _, o := range []*episodes.Options{&train, &test} {
		if err := o.ReadList(s.Dataset); err != nil {
			return fmt.Errorf("job %q: %w", s.ID, err)
		}
	}
	if train.List != nil && test.List != nil {
		if err := episodes.CheckDisjoint(train.List, test.List); err != nil {
			return fmt.Errorf("job %q: test split: %w", s.ID, err)
		}
	}
	return nil
}

// EncodeModelConfig is the JoinAck.Spec a worker builds its model from:
// JSON of model.Config, which the worker decodes without knowing JobSpec.
func EncodeModelConfig(c model.Config) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode model config: %w", err)
	}
	return b, nil
}

// MarshalJSON writes s as encoding/json writes its fields, but Channels
// only when it is not 1: the JSON of a grayscale spec (a job record, a
// queue entry, a summary) is what it was before colour existed, and reads
// back as 1 through WithDefaults.
func (s JobSpec) MarshalJSON() ([]byte, error) {
	type plain JobSpec // without this method
	p := plain(s)
	if p.Channels == params.Gray {
		p.Channels = 0
	}
	return json.Marshal(p)
}

// specFormat is how a job's spec is written into its checkpoint record.
const specFormat = "json"

// EncodeSpec returns s as a job record stores it, and the record's
// SpecFormat.
func EncodeSpec(s JobSpec) (spec []byte, format string, err error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, "", fmt.Errorf("job %q: encode spec: %w", s.ID, err)
	}
	return b, specFormat, nil
}

// DecodeSpec reads the spec a job record stores (EncodeSpec), with zero
// fields, such as ones added since it was written, set to their defaults.
func DecodeSpec(rec checkpoints.JobRecord) (JobSpec, error) {
	var s JobSpec
	if f := strings.ToLower(rec.SpecFormat); f != specFormat && f != "" {
		return s, fmt.Errorf("job %q: spec format %q, this build reads %s", rec.ID, rec.SpecFormat, specFormat)
	}
	if err := json.Unmarshal(rec.Spec, &s); err != nil {
		return s, fmt.Errorf("job %q: stored spec: %w", rec.ID, err)
	}
	return s.WithDefaults(), nil
}

// SpecChange is one field that differs between two specs.
type SpecChange struct {
	// Field is the field's YAML name, dotted for nested fields
	// ("optimizer.lr").
	Field string
	// Flag is the fsl-coord start flag that sets it ("--lr"), or "" when
	// only a --config file does.
	Flag     string
	Old, New string
}

// String reads "--lr (optimizer.lr): 0.001 → 0.01".
func (c SpecChange) String() string {
	name := c.Field
	if c.Flag != "" && c.Flag != "--"+strings.ReplaceAll(c.Field, "_", "-") {
		name = fmt.Sprintf("%s (%s)", c.Flag, c.Field)
	} else if c.Flag != "" {
		name = c.Flag
	}
	return fmt.Sprintf("%s: %s → %s", name, c.Old, c.New)
}

// specFlags are the start flags of the YAML fields whose name differs.
var specFlags = map[string]string{
	"id": "--job", "dataset": "--data", "checkpoint_every": "--checkpoint-every", "eval_every": "--eval-every",
	"lease_timeout": "--lease-timeout", "heartbeat_timeout": "--heartbeat-timeout", "optimizer.name": "--optimizer",
	"optimizer.lr": "--lr", "triplet.mining": "--mining", "triplet.classes": "--classes-per-shard",
	"triplet.images": "--images-per-class",
}

// specFlagless are the YAML fields no start flag sets.
var specFlagless = map[string]bool{"margin": true, "bn_momentum": true, "allow_mixed_classes": true}

// DiffSpecs lists the fields of b that differ from a, in the order of
// JobSpec's fields (nested structs by their own fields).
func DiffSpecs(a, b JobSpec) []SpecChange {
	var out []SpecChange
	diffFields(&out, "", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}

func diffFields(out *[]SpecChange, prefix string, a, b reflect.Value) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := yamlName(f)
		if name == "-" {
			continue
		}
		path := prefix + name
		va, vb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct {
			diffFields(out, path+".", va, vb)
			continue
		}
		if reflect.DeepEqual(va.Interface(), vb.Interface()) {
			continue
		}
		flag := specFlags[path]
		if flag == "" && !specFlagless[path] && prefix == "" {
			flag = "--" + strings.ReplaceAll(path, "_", "-")
		}
		*out = append(*out, SpecChange{Field: path, Flag: flag, Old: specValue(va), New: specValue(vb)})
	}
}

// specValue prints a field's value as a user writes it.
func specValue(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case string:
		return strconv.Quote(x)
	case Duration:
		return time.Duration(x).String()
	}
	return fmt.Sprint(v.Interface())
}

// CheckResume returns nil when a job stored in db with spec old may go on
// with spec new: the two may differ only in Steps (a user may raise it to
// train longer). Otherwise its error names each differing field, old →
// new, and how to start a new job instead.
func CheckResume(db string, old, new JobSpec) error {
	if bytes.Equal(specKey(old), specKey(new)) {
		return nil
	}
	var lines []string
	for _, c := range DiffSpecs(old, new) {
		if c.Field != "steps" && c.Field != "verify" && c.Field != "test_split" && c.Field != "patience" && !strings.HasPrefix(c.Field, "eval.") {
			lines = append(lines, "  "+c.String())
		}
	}
	if len(lines) == 0 { // a difference DiffSpecs cannot name: show both
		lines = []string{fmt.Sprintf("  stored %s\n  given  %s", specKey(old), specKey(new))}
	}
	return fmt.Errorf("job %q in %s was started with other settings (stored → given):\n%s\n"+
		"to resume it, give the stored values; to start a new job with the new ones, name another job (--job %s-2) or store (--db other.db)",
		new.ID, db, strings.Join(lines, "\n"), new.ID)
}
