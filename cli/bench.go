package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/model/cpu"
)

// jobFlagNames are the flags of start that describe the job itself; bench
// commands take the same ones.
var jobFlagNames = map[string]bool{
	"config": true, "job": true, "loss": true, "data": true, "split": true, "val-split": true, "test-split": true, "size": true, "channels": true, "rotations": true,
	"way": true, "shot": true, "query": true, "pairs": true, "triplets": true, "mining": true, "classes-per-shard": true,
	"images-per-class": true, "shards": true, "steps": true,
	"seed": true, "optimizer": true, "lr": true, "checkpoint-every": true, "lease-timeout": true,
	"heartbeat-timeout": true, "eval-every": true, "pipeline": true,
}

func jobFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range startFlags() {
		if jobFlagNames[f.Names()[0]] {
			out = append(out, f)
		}
	}
	return out
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "long accuracy and speed runs (not CI steps)",
		Description: "Examples:\n" +
			"   fsl-coord bench train --loss triplet --steps 100 --summary s.json   # the parameters' sha256 in s.json\n" +
			"   fsl-coord bench step --loss proto --threads 1,2                     # images/s and peak RSS of one step\n" +
			"   fsl-coord bench cluster --workers 2 --runs 3                        # NATS workers against independent trainers",
		Subcommands: append([]*cli.Command{
			{
				Name:  "train",
				Usage: "train one job in this process without NATS, then evaluate it on held-out classes",
				Description: "The single-process baseline: every shard of every step is computed here, in shard order,\n" +
					"with the coordinator's own update arithmetic, so its parameters equal a distributed run's.\n" +
					"Prints images/s, peak RSS and a table of accuracies with 95% confidence intervals.\n\n" +
					"Examples:\n" +
					"   fsl-coord bench train --steps 200 --eval-episodes 200\n" +
					"   fsl-coord bench train --data /data/omniglot --split background --rotations --steps 5000 --threads 4",
				Flags: append(jobFlags(),
					&cli.IntFlag{Name: "threads", Value: 1, Usage: "compute threads per step (results do not depend on it)"},
					&cli.StringFlag{Name: "eval-way", Value: "5,20", Usage: "ways of the final evaluation, comma-separated (as eval's --way)"},
					&cli.StringFlag{Name: "eval-ways", Hidden: true, Usage: "older name of --eval-way"},
					&cli.IntFlag{Name: "eval-shot", Value: 1, Usage: "shots of the final evaluation"},
					&cli.IntFlag{Name: "eval-query", Value: 15, Usage: "queries per class of the final evaluation"},
					&cli.IntFlag{Name: "eval-episodes", Value: 1000, Usage: "episodes per evaluation (0: no evaluation)"},
					&cli.StringFlag{Name: "db", Usage: "also save the final checkpoint to this store"},
					&cli.StringFlag{Name: "summary", Usage: "write the result as JSON to this file"},
					progressFlags()[0], progressFlags()[1],
				),
				Action: runBenchTrain,
			},
		}, append(benchClusterCommands(), benchStepCommand())...),
	}
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// benchTrainResult is what bench train reports.
type benchTrainResult struct {
	Spec         coordinator.JobSpec `json:"spec"`
	Images       int                 `json:"images"`
	Seconds      float64             `json:"seconds"`
	ImagesPerSec float64             `json:"images_per_s"`
	PeakRSSMiB   float64             `json:"peak_rss_mib"`
	FinalLoss    float64             `json:"final_loss"`
	ParamsSHA256 string              `json:"params_sha256"`
	Evaluations  []eval.Report       `json:"evaluations"`
}

func runBenchTrain(c *cli.Context) error {
	gcForCompute()
	if err := positive(c, "threads", "eval-shot", "eval-query"); err != nil {
		return err
	}
	if err := nonNegative(c, "eval-episodes"); err != nil {
		return err
	}
	spec, err := loadSpec(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := c.App.Writer
	ds, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		return err
	}
	m, err := model.New(spec.ModelConfig(), model.Threads(c.Int("threads")))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bench train: %s loss on %s (%d classes), %d steps × %d shards × %d images = %d images, BLAS %s, %d thread(s)\n",
		spec.Loss, ds.Name, len(ds.Classes), spec.Steps, spec.Shards, spec.SamplerConfig().Images(),
		spec.Steps*spec.ImagesPerStep(), cpu.BLASName(), c.Int("threads"))
	prog, err := newProgressLine(c)
	if err != nil {
		return err
	}
	start := time.Now()
	tr, err := coordinator.RunLocal(ctx, spec, ds, m.Grad, prog.step)
	prog.finish()
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	res := benchTrainResult{Spec: spec, Images: spec.Steps * spec.ImagesPerStep(), Seconds: secs,
		FinalLoss: tr.LastLoss, ParamsSHA256: tr.Params.SHA256(), PeakRSSMiB: peakRSSMiB()}
	res.ImagesPerSec = float64(res.Images) / secs
	fmt.Fprintf(out, "trained: %d images in %.1f s = %.0f images/s, peak RSS %.0f MiB, final loss %.4f, params sha256 %s\n",
		res.Images, secs, res.ImagesPerSec, res.PeakRSSMiB, res.FinalLoss, res.ParamsSHA256)
	if db := c.String("db"); db != "" {
		if err := saveFinal(db, spec, ds, tr); err != nil {
			return err
		}
	}
	if n := c.Int("eval-episodes"); n > 0 {
		test, err := episodes.Open(spec.Dataset, spec.SplitOptions(spec.TestSplit))
		if err != nil {
			return fmt.Errorf("held-out classes: %w", err)
		}
		net := eval.Net{Model: m, Params: tr.Params, State: tr.State}
		ways, err := parseInts(stringOf(c, "eval-way", "eval-ways"))
		if err != nil {
			return fmt.Errorf("--eval-way: %w", err)
		}
		for _, way := range ways {
			r, err := eval.Episodes(net, test, eval.EpisodeConfig{Way: way, Shot: c.Int("eval-shot"), Query: c.Int("eval-query"), Episodes: n, Seed: 1}, nil)
			if err != nil {
				return err
			}
			res.Evaluations = append(res.Evaluations, r)
		}
		printReports(out, res.Evaluations)
	}
	if path := c.String("summary"); path != "" {
		return writeJSON(path, res)
	}
	return nil
}

// printReports prints evaluation figures as a table, one protocol a row.
func printReports(w io.Writer, rs []eval.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "protocol\tclassifier\tepisodes\taccuracy\t95% CI\tseed\tdataset")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f%%\t± %.2f%%\t%d\t%s %.12s\n", r.Protocol, r.Classifier, r.Episodes, 100*r.Mean, 100*r.CI95, r.Seed, r.Dataset, r.Fingerprint)
	}
	tw.Flush()
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// saveFinal stores the trained job and its last checkpoint, so fsl-coord
// eval and checkpoints can read a bench run like any other.
func saveFinal(db string, spec coordinator.JobSpec, ds *episodes.Dataset, tr *coordinator.Trainer) error {
	st, err := checkpoints.Open(db, checkpoints.WithReleaseBetweenWrites())
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	defer st.Close()
	specJSON, format, err := coordinator.EncodeSpec(spec)
	if err != nil {
		return err
	}
	if err := st.PutJob(checkpoints.JobRecord{ID: spec.ID, Spec: specJSON, SpecFormat: format, Layout: tr.Layout(),
		Dataset: ds.Fingerprint(), Status: checkpoints.StatusDone}); err != nil {
		return fmt.Errorf("--db %s: %w", db, err)
	}
	if err := st.Save(spec.ID, tr.Checkpoint(map[string]float64{"loss": tr.LastLoss})); err != nil {
		return fmt.Errorf("--db %s: %w", db, err)
	}
	return nil
}

// peakRSSMiB reads the process's peak resident set (VmHWM) on Linux; 0
// elsewhere.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
