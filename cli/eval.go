package cli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// evalCommand is `fsl-coord eval`: few-shot accuracy of one checkpoint,
// read from the store (read-only), from an export file, or from the
// running coordinator when it holds the store.
func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "measure few-shot accuracy of a checkpoint on held-out classes (random episodes with 95% CI, Omniglot's official runs)",
		Description: "Every figure is printed with its protocol, seed and dataset fingerprint, after a line naming the\n" +
			"checkpoint and why it was chosen (best falls back to the newest when no checkpoint is validated).\n" +
			"--way and --shot take lists (--way 5,20 --shot 1,5, or repeated flags): every combination is evaluated.\n\n" +
			"Examples:\n" +
			"   fsl-coord eval --checkpoint best --way 5,20 --shot 1          # job fsl in fsl.db, after fsl-coord start\n" +
			"   fsl-coord eval --db fsl.db --job omni --checkpoint best --way 5,20 --official-runs\n" +
			"   fsl-coord eval --from omni-5000.fslck --json | jq '.results[].mean'\n" +
			"   fsl-coord eval --job omni --nats nats://coord:4222 --token \"$T\"  # while the coordinator holds the store",
		Flags: append([]cli.Flag{
			ckptDBFlag(),
			jobFlag("fsl", "job ID (with --from: checked against the export when given)"),
			&cli.StringFlag{Name: "checkpoint", Value: "latest", Usage: "checkpoint: latest, best (by validation; the newest when none is validated) or a step number"},
			&cli.StringFlag{Name: "from", Usage: "read the checkpoint from this export file (fsl-coord checkpoints export, either --format) instead of --db"},
			&cli.StringFlag{Name: "data", Usage: "dataset spec (default: the job's own dataset)"},
			&cli.StringFlag{Name: "split", Aliases: []string{"split-file"}, Usage: "classes to evaluate on: test (the held-out classes), another split name, or a class list (vinyals/test beside the Omniglot zips, or a .txt path); when not given, the job's test split (test unless it set one)"},
			&cli.BoolFlag{Name: "rotations", Usage: "add 90° rotations of each class as new classes (when not given: as the job trained)"},
			&cli.IntSliceFlag{Name: "way", Value: cli.NewIntSlice(5), Usage: "classes per episode; a list evaluates each"},
			&cli.IntSliceFlag{Name: "shot", Value: cli.NewIntSlice(1), Usage: "support images per class; a list evaluates each"},
			&cli.IntFlag{Name: "query", Value: 15, Usage: "query images per class"},
			&cli.IntFlag{Name: "episodes", Value: 1000, Usage: "random episodes per setting"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "episode seed: the same seed draws the same episodes"},
			&cli.StringFlag{Name: "classifier", Value: string(eval.NearestPrototype), Usage: "prototype, neighbour, matching (Matching Networks' attention; what a job trained with the matching loss gets when not given) or siamese"},
			&cli.BoolFlag{Name: "official-runs", Usage: "also run Omniglot's 20 official one-shot runs (all_runs.zip beside the Omniglot zips)"},
			&cli.BoolFlag{Name: "force", Usage: "evaluate even when the dataset's training split is not the one the job trained on"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
			progressFlags()[0], progressFlags()[1],
			ckptLockFlag(),
			&cli.DurationFlag{Name: "wait", Usage: "first wait up to this long for the job to be done in --db (training finished), " +
				"then evaluate: an evaluation started beside the training (k8s/) runs when it completes"},
			natsFlag("", "when a running coordinator holds the store, ask it at this NATS URL for the checkpoint"),
			tokenFlag("NATS auth token for --nats"),
			credsFlag(),
			nkeyFlag(transport.RoleReader),
			&cli.DurationFlag{Name: "nats-timeout", Value: 30 * time.Second, Usage: "how long to wait for the coordinator's reply"},
		}, tlsClientFlags()...),
		Action: evalAction,
	}
}

// evalSettings are the checked flags of one eval call.
type evalSettings struct {
	ways, shots     []int
	query, episodes int
	seed            uint64
	classifier      eval.Classifier
}

func evalFlags(c *cli.Context) (evalSettings, error) {
	s := evalSettings{ways: c.IntSlice("way"), shots: c.IntSlice("shot"), query: c.Int("query"), episodes: c.Int("episodes"), seed: c.Uint64("seed")}
	var err error
	if s.classifier, err = eval.ParseClassifier(c.String("classifier")); err != nil {
		return s, fmt.Errorf("--classifier: %w", err)
	}
	for _, w := range s.ways {
		if w < 2 {
			return s, fmt.Errorf("--way %d: want 2 or more classes per episode", w)
		}
	}
	for _, k := range s.shots {
		if k < 1 {
			return s, fmt.Errorf("--shot %d: want 1 or more support images per class", k)
		}
	}
	if len(s.ways) == 0 || len(s.shots) == 0 {
		return s, errors.New("--way and --shot need at least one value each")
	}
	if s.query < 1 {
		return s, fmt.Errorf("--query %d: want 1 or more queries per class", s.query)
	}
	if s.episodes < 1 {
		return s, fmt.Errorf("--episodes %d: want 1 or more", s.episodes)
	}
	if err := positiveDuration(c, "nats-timeout", "lock-timeout"); err != nil {
		return s, err
	}
	if _, err := progressOn(c, c.App.ErrWriter); err != nil {
		return s, err
	}
	return s, nil
}

// evalOutput is what `eval --json` prints.
type evalOutput struct {
	Job          string `json:"job"`
	Step         uint64 `json:"step"`
	ParamsSHA256 string `json:"params_sha256"`
	Source       string `json:"source"`
	// Choice says why this checkpoint: "the newest", "best by val_acc 0.93".
	Choice       string           `json:"checkpoint_choice"`
	Dataset      evalDataset      `json:"dataset"`
	Results      []eval.Report    `json:"results"`
	OfficialRuns *eval.RunsReport `json:"official_runs,omitempty"`
}

type evalDataset struct {
	Spec        string `json:"spec"`
	Split       string `json:"split"`
	Name        string `json:"name"`
	Classes     int    `json:"classes"`
	Fingerprint string `json:"fingerprint"`
	// Training is the job's stored training fingerprint; Checked says
	// whether --data's training split was found equal to it.
	Training string `json:"training_fingerprint,omitempty"`
	Checked  bool   `json:"training_checked"`
}

func evalAction(c *cli.Context) error {
	set, err := evalFlags(c)
	if err != nil {
		return err
	}
	if c.Duration("wait") < 0 {
		return fmt.Errorf("--wait %v: want 0 (do not wait) or more", c.Duration("wait"))
	}
	if wait := c.Duration("wait"); wait > 0 && c.String("from") == "" {
		if err := waitForJobDone(c.Context, c.String("db"), c.String("job"), wait, evalWaitPoll, c.App.ErrWriter); err != nil {
			return err
		}
	}
	lc, err := evalCheckpoint(c)
	if err != nil {
		return err
	}
	net, spec, err := buildNet(lc)
	if err != nil {
		return err
	}
	if !c.IsSet("classifier") {
		set.classifier = eval.DefaultClassifier(net.Model.Config())
	}
	if set.classifier == eval.SiameseHead && spec.Loss != "siamese" && spec.Loss != "pairs" {
		return fmt.Errorf("--classifier siamese: job %q was trained with the %s loss and has no Siamese head", lc.rec.ID, spec.Loss)
	}
	dataSpec := c.String("data")
	if dataSpec == "" {
		dataSpec = spec.Dataset
	}
	split := spec.TestSplit
	if c.IsSet("split") {
		split = c.String("split")
	}
	rotations := spec.Rotations
	if c.IsSet("rotations") {
		rotations = c.Bool("rotations")
	} else if episodes.SplitFile(dataSpec, split) != "" {
		rotations = false // a class list gives each class's rotation
	}
	if !c.Bool("json") { // --json: stdout and stderr stay one JSON document
		noteBLAS(slog.New(slog.NewTextHandler(c.App.ErrWriter, nil)))
		fmt.Fprintf(c.App.Writer, "using checkpoint %d of job %s: %s\n", lc.ckpt.Step, lc.rec.ID, lc.why)
	}
	out := evalOutput{Job: lc.rec.ID, Step: lc.ckpt.Step, Source: lc.source, Choice: lc.why,
		Dataset: evalDataset{Spec: dataSpec, Split: split, Training: lc.rec.Dataset}}
	sum := lc.ckpt.ParamsSHA256()
	out.ParamsSHA256 = hex.EncodeToString(sum[:])

	// Everything that can be refused is checked before the long part.
	var runs *eval.OfficialRuns
	if c.Bool("official-runs") {
		if runs, err = loadRunsBeside(dataSpec, spec.Size); err != nil {
			return err
		}
	}
	test, checked, err := evalDatasets(c, dataSpec, split, spec.Size, spec.Channels, rotations, spec.DatasetOptions(), lc.rec)
	if err != nil {
		return err
	}
	out.Dataset.Name, out.Dataset.Classes, out.Dataset.Fingerprint, out.Dataset.Checked = test.Name, len(test.Classes), test.Fingerprint(), checked

	for _, way := range set.ways {
		for _, shot := range set.shots {
			bar := newEvalBar(c, fmt.Sprintf("%d-way %d-shot", way, shot))
			r, err := eval.Episodes(net, test, eval.EpisodeConfig{Way: way, Shot: shot, Query: set.query, Episodes: set.episodes,
				Seed: set.seed, Classifier: set.classifier}, bar.update)
			bar.finish()
			if err != nil {
				return err
			}
			out.Results = append(out.Results, r)
		}
	}
	if runs != nil {
		bar := newEvalBar(c, "official runs")
		r, err := eval.Runs(net, runs, set.classifier, bar.update)
		bar.finish()
		if err != nil {
			return err
		}
		out.OfficialRuns = &r
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return printEvalTable(c.App.Writer, out)
}

// evalCheckpoint reads the checkpoint that --from, or --db with --job and
// --checkpoint, name; when a running coordinator holds the store, it asks
// that coordinator over --nats.
func evalCheckpoint(c *cli.Context) (loadedCheckpoint, error) {
	job := c.String("job")
	which, err := checkpoints.ParseSelector(c.String("checkpoint"))
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("--checkpoint: %w", err)
	}
	if from := c.String("from"); from != "" {
		lc, err := readExportFile(from)
		if err != nil {
			return lc, err
		}
		lc.why = "the export file's"
		if c.IsSet("job") && job != lc.rec.ID {
			return lc, fmt.Errorf("--from %s holds job %q, not --job %q", from, lc.rec.ID, job)
		}
		return lc, nil
	}
	db := c.String("db")
	lc, err := readCheckpoint(db, job, which, c.Duration("lock-timeout"))
	if !errors.Is(err, checkpoints.ErrLocked) {
		return lc, err
	}
	url := c.String("nats")
	if url == "" {
		return lc, fmt.Errorf("%w; pass --nats URL (and --token) to ask the running coordinator for the checkpoint, or export it", err)
	}
	tlsCfg, err := tlsConfig(c, false)
	if err != nil {
		return lc, err
	}
	conn := transport.ConnectOptions{Name: "fsl-coord eval", Token: c.String("token"), CredsFile: c.String("creds"), NKeyFile: c.String("nkey"), Role: transport.RoleReader, TLS: tlsCfg, Logger: slog.New(slog.DiscardHandler)}
	lc, err = fetchCheckpoint(c.Context, url, conn, job, which.String(), c.Duration("nats-timeout"))
	if err == nil {
		lc.why = chosenBecause(which, lc.rec, lc.ckpt)
	}
	return lc, err
}

// evalDatasets opens the classes to evaluate on and, unless --force,
// checks that the dataset's training split is the one the job trained on
// (the job record keeps its fingerprint). It reports whether that check
// was made.
func evalDatasets(c *cli.Context, dataSpec, split string, size, channels int, rotations bool, train episodes.Options, rec checkpoints.JobRecord) (*episodes.Dataset, bool, error) {
	testOpts := episodes.Options{Size: size, Channels: channels, Split: split, Rotations: rotations}
	if c.Bool("force") || rec.Dataset == "" {
		if rec.Dataset == "" && !c.Bool("json") { // --json says so in training_checked
			fmt.Fprintf(c.App.ErrWriter, "warning: job %q records no dataset fingerprint; the dataset cannot be checked\n", rec.ID)
		}
		ds, err := episodes.Open(dataSpec, testOpts)
		if err != nil {
			return nil, false, fmt.Errorf("evaluation classes: %w", err)
		}
		return ds, false, nil
	}
	test, err := eval.OpenChecked(dataSpec, train, testOpts, rec.ID, rec.Dataset)
	switch {
	case errors.Is(err, eval.ErrUncheckable):
		return nil, false, fmt.Errorf("--data: %w (pass --force to evaluate unchecked)", err)
	case errors.Is(err, eval.ErrOtherDataset):
		return nil, false, fmt.Errorf("--data: %w (pass --force to evaluate anyway)", err)
	case err != nil:
		return nil, false, err
	}
	return test, true, nil
}

// loadRunsBeside loads all_runs.zip from the Omniglot folder dataSpec names
// (or the folder of the Omniglot zip it names).
func loadRunsBeside(dataSpec string, size int) (*eval.OfficialRuns, error) {
	dir := dataSpec
	st, err := os.Stat(dataSpec)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--official-runs needs an Omniglot dataset folder or zip, and %q is not one (%v)", dataSpec, err)
	case !st.IsDir():
		dir = filepath.Dir(dataSpec)
	}
	file := filepath.Join(dir, "all_runs.zip")
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("--official-runs: no all_runs.zip beside the Omniglot data in %s: %w", dir, err)
	}
	return eval.LoadOfficialRuns(file, size)
}

func printEvalTable(w io.Writer, out evalOutput) error {
	fmt.Fprintf(w, "job %s, checkpoint step %d (params sha256 %.16s), from %s\n", out.Job, out.Step, out.ParamsSHA256, out.Source)
	check := "checked against the job's training data"
	if !out.Dataset.Checked {
		check = "NOT checked against the job's training data"
	}
	fmt.Fprintf(w, "dataset %s: %d classes, fingerprint %s (%s)\n\n", out.Dataset.Name, out.Dataset.Classes, out.Dataset.Fingerprint, check)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTOCOL\tCLASSIFIER\tACCURACY\t95% CI\tOVER\tSEED\tDATASET\tFINGERPRINT")
	for _, r := range out.Results {
		fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t± %.2f%%\t%d episodes\t%d\t%s\t%.16s\n",
			r.Protocol, r.Classifier, 100*r.Mean, 100*r.CI95, r.Episodes, r.Seed, r.Dataset, r.Fingerprint)
	}
	if r := out.OfficialRuns; r != nil {
		fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t± %.2f%%\t%d runs, %d items\t-\t%s\t%.16s\n",
			r.Protocol, r.Classifier, 100*r.Mean, 100*r.CI95, r.Episodes, r.Items, r.Dataset, r.Fingerprint)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r := out.OfficialRuns; r != nil {
		parts := make([]string, len(r.PerRun))
		for i, pr := range r.PerRun {
			parts[i] = fmt.Sprintf("%s %d/%d", strings.TrimPrefix(pr.Run, "run"), pr.Correct, pr.Items)
		}
		fmt.Fprintf(w, "\nofficial runs, correct per run: %s (overall %d/%d = %.2f%%)\n", strings.Join(parts, "  "), r.Correct, r.Items, 100*r.Overall)
	}
	return nil
}

// evalBar is a progress bar on stderr, or nothing (--progress: by
// default only on a terminal). The bar
// is made on the first update, when the total is known: a bar of unknown
// length runs a spinner goroutine that races with updates.
type evalBar struct {
	w    io.Writer
	what string
	b    *progressbar.ProgressBar
}

func newEvalBar(c *cli.Context, what string) *evalBar {
	if on, _ := progressOn(c, c.App.ErrWriter); !on { // checked by evalFlags
		return &evalBar{}
	}
	return &evalBar{w: c.App.ErrWriter, what: what}
}

func (e *evalBar) update(done, total int) {
	if e.w == nil || total < 1 {
		return
	}
	if e.b == nil {
		e.b = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(e.w),
			progressbar.OptionSetDescription(e.what),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetSpinnerChangeInterval(0),
		)
	}
	if e.b.GetMax() != total {
		e.b.ChangeMax(total)
	}
	_ = e.b.Set(done) // a failed write to stderr must not stop the evaluation
}

func (e *evalBar) finish() {
	if e.b != nil {
		_ = e.b.Finish()
		fmt.Fprintln(e.w)
	}
}
