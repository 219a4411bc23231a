package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
	fslcpu "github.com/fsl-project/fsl/model/cpu"
	"github.com/fsl-project/fsl/params"
)

// benchStepCommand measures the model's training step alone: no NATS, no
// coordinator. Each (loss, threads) setting runs in a child process of its
// own, so its peak RSS is its own.
func benchStepCommand() *cli.Command {
	return &cli.Command{
		Name:  "step",
		Usage: "kernel speed: images/s and peak RSS of one worker's training step, per loss and thread count",
		Description: "Computes the gradients of batches of --images synthetic glyph images of --size pixels and --channels\n" +
			"colour planes (3: the glyphs drawn in colour), with the sampler's real batch structure (triplets,\n" +
			"balanced pairs, 5-way 1-shot episodes), --steps timed steps after one\n" +
			"warm-up, in a fresh child process per loss, thread count and run. Prints the median over --runs of\n" +
			"images/s (wall), images per CPU-second, and peak RSS of the child process.\n\n" +
			"Examples:\n" +
			"   fsl-coord bench step\n" +
			"   fsl-coord bench step --loss proto --threads 1,2,4 --json\n" +
			"   fsl-coord bench step --loss proto --size 84 --channels 3",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "loss", Value: "triplet,siamese,proto", Usage: "losses to measure, comma-separated: proto, matching, triplet, siamese"},
			&cli.StringFlag{Name: "threads", Value: "1,2", Usage: "compute threads per step (results do not depend on it), comma-separated"},
			&cli.IntFlag{Name: "images", Value: 60, Usage: "images per batch (a multiple of 60 fits every loss)"},
			&cli.IntFlag{Name: "size", Value: 28, Usage: "image side in pixels"},
			&cli.IntFlag{Name: "channels", Value: 1, Usage: "colour planes of the images: 1 (grayscale) or 3 (RGB)"},
			&cli.IntFlag{Name: "steps", Value: 40, Usage: "timed steps per run"},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "runs per setting; the table shows medians"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
			&cli.StringFlag{Name: "one", Hidden: true, Usage: "child mode: measure LOSS:THREADS once and print JSON"},
		},
		Action: runBenchStep,
	}
}

// stepRate is one measured run of bench step.
type stepRate struct {
	Loss          string  `json:"loss"`
	Threads       int     `json:"threads"`
	ImagesPerSec  float64 `json:"images_per_s"`
	ImagesPerCPUs float64 `json:"images_per_cpu_s"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	BLAS          string  `json:"blas"`
}

func runBenchStep(c *cli.Context) error {
	if err := positive(c, "images", "size", "channels", "steps", "runs"); err != nil {
		return err
	}
	if ch := c.Int("channels"); ch != params.Gray && ch != params.RGB {
		return fmt.Errorf("--channels %d: want %d (grayscale) or %d (RGB)", ch, params.Gray, params.RGB)
	}
	if one := c.String("one"); one != "" {
		gcForCompute() // the child measures what a worker would use
		r, err := measureStep(one, c.Int("images"), c.Int("size"), c.Int("channels"), c.Int("steps"))
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	losses := strings.Split(c.String("loss"), ",")
	threads, err := intList("threads", c.String("threads"))
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench step: find this binary: %w", err)
	}
	var med []stepRate
	for _, loss := range losses {
		for _, th := range threads {
			var rates, cpu, rss []float64
			var blas string
			for run := 0; run < c.Int("runs"); run++ {
				r, err := stepChild(self, fmt.Sprintf("%s:%d", loss, th), c)
				if err != nil {
					return err
				}
				rates, cpu, rss, blas = append(rates, r.ImagesPerSec), append(cpu, r.ImagesPerCPUs), append(rss, r.PeakRSSMiB), r.BLAS
				if !c.Bool("json") {
					fmt.Fprintf(c.App.ErrWriter, "%s, %d thread(s), run %d: %.0f images/s, %.0f MiB\n", loss, th, run+1, r.ImagesPerSec, r.PeakRSSMiB)
				}
			}
			med = append(med, stepRate{Loss: loss, Threads: th, ImagesPerSec: median(rates), ImagesPerCPUs: median(cpu), PeakRSSMiB: median(rss), BLAS: blas})
		}
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(med)
	}
	fmt.Fprintf(c.App.Writer, "training step, batch %d, %d×%d×%d, median of %d runs of %d steps\n", c.Int("images"), c.Int("size"), c.Int("size"), c.Int("channels"), c.Int("runs"), c.Int("steps"))
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "loss\tthreads\timages/s\timages/CPU-s\tpeak RSS\tBLAS")
	for _, r := range med {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f MiB\t%s\n", r.Loss, r.Threads, r.ImagesPerSec, r.ImagesPerCPUs, r.PeakRSSMiB, r.BLAS)
	}
	return tw.Flush()
}

// stepChild runs one measurement in a child process of this binary.
func stepChild(self, one string, c *cli.Context) (stepRate, error) {
	args := []string{"bench", "step", "--one", one, "--images", strconv.Itoa(c.Int("images")),
		"--size", strconv.Itoa(c.Int("size")), "--channels", strconv.Itoa(c.Int("channels")), "--steps", strconv.Itoa(c.Int("steps"))}
	cmd := exec.CommandContext(c.Context, self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return stepRate{}, fmt.Errorf("bench step %s: child process: %w", one, err)
	}
	var r stepRate
	if err := json.Unmarshal(out, &r); err != nil {
		return stepRate{}, fmt.Errorf("bench step %s: child printed %q: %w", one, out, err)
	}
	return r, nil
}

// measureStep times steps Grad calls of one loss ("triplet:2" is the
// triplet loss on 2 threads) on a batch of the given shape.
func measureStep(one string, images, size, channels, steps int) (stepRate, error) {
	loss, th, ok := strings.Cut(one, ":")
	threads, err := strconv.Atoi(th)
	if !ok || err != nil || threads < 1 {
		return stepRate{}, fmt.Errorf("--one %q: want LOSS:THREADS, e.g. triplet:1", one)
	}
	spec := coordinator.JobSpec{ID: "bench", Loss: loss, Size: size, Channels: channels}.WithDefaults()
	kind, err := spec.Kind()
	if err != nil {
		return stepRate{}, err
	}
	sc := episodes.SamplerConfig{Kind: kind}
	switch kind {
	case params.KindTriplets:
		sc.Triplets = images / 3
	case params.KindPairs:
		sc.Pairs = images / 2
	default:
		sc.Way, sc.Shot, sc.Query = 5, 1, images/5-1
	}
	if sc.Images() != images || (kind == params.KindPairs && sc.Pairs%2 != 0) {
		return stepRate{}, fmt.Errorf("--images %d: %s batches of that size do not exist (use a multiple of 60)", images, loss)
	}
	ds, err := episodes.Open("glyphs", episodes.Options{Size: size, Channels: channels})
	if err != nil {
		return stepRate{}, err
	}
	smp, err := episodes.NewSampler(ds, sc)
	if err != nil {
		return stepRate{}, err
	}
	b := smp.Batch(1, 0, 0)
	m, err := model.New(spec.ModelConfig(), model.Threads(threads))
	if err != nil {
		return stepRate{}, err
	}
	p, st := m.Init(1)
	if _, err := m.Grad(p, st, b); err != nil { // builds the graph
		return stepRate{}, err
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	for i := 0; i < steps; i++ {
		if _, err := m.Grad(p, st, b); err != nil {
			return stepRate{}, err
		}
	}
	wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	n := float64(images * steps)
	r := stepRate{Loss: loss, Threads: threads, ImagesPerSec: n / wall, PeakRSSMiB: peakRSSMiB(), BLAS: fslcpu.BLASName() + "/" + fslcpu.BLASCore()}
	if cpu > 0 {
		r.ImagesPerCPUs = n / cpu
	}
	return r, nil
}

// cpuSeconds is the user+system CPU time of this process so far (0 where
// getrusage fails).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// intList parses a comma-separated list of positive integers from flag.
func intList(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %q: want positive integers, comma-separated", flag, s)
		}
		out = append(out, n)
	}
	return out, nil
}
