package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/worker"
)

// startFlags are `fsl-coord start`'s flags. Job flags override the --config
// file's values only when given (c.IsSet): their Values, taken from
// coordinator.DefaultSpec, are there for --help, and the same defaults fill
// what neither the flags nor the file set.
func startFlags() []cli.Flag {
	d := coordinator.DefaultSpec()
	sgdLR := params.OptimizerConfig{Name: params.OptimizerSGD}.WithDefaults().LR
	return append([]cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "YAML job spec (fields as in coordinator.JobSpec: loss, dataset, way, shards, steps, optimizer, ...)"},
		&cli.StringFlag{Name: "job", Value: d.ID, Usage: "job ID"},
		&cli.StringFlag{Name: "loss", Value: d.Loss, Usage: "proto, triplet or siamese"},
		&cli.StringFlag{Name: "data", Value: d.Dataset, Usage: "dataset: glyphs (generated), or an Omniglot/miniImageNet/image-tree folder"},
		&cli.StringFlag{Name: "split", Value: d.Split, Usage: "training split (train: background minus validation groups)"},
		&cli.IntFlag{Name: "size", Value: d.Size, Usage: "image side in pixels"},
		&cli.BoolFlag{Name: "rotations", Value: d.Rotations, Usage: "add 90° rotations of each class as new classes"},
		&cli.IntFlag{Name: "way", Value: d.Way, Usage: "classes per proto shard"},
		&cli.IntFlag{Name: "shot", Value: d.Shot, Usage: "support images per class"},
		&cli.IntFlag{Name: "query", Value: d.Query, Usage: "query images per class"},
		&cli.IntFlag{Name: "pairs", Value: d.Pairs, Usage: "pairs per siamese shard"},
		&cli.IntFlag{Name: "triplets", Value: d.Triplets, Usage: "triplets per triplet shard"},
		&cli.IntFlag{Name: "shards", Value: d.Shards, Usage: "shards per step"},
		&cli.IntFlag{Name: "steps", Value: d.Steps, Usage: "optimizer steps"},
		&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "seed of initialisation and batches"},
		&cli.StringFlag{Name: "optimizer", Value: d.Optimizer.Name, Usage: "adam or sgd"},
		&cli.Float64Flag{Name: "lr", Value: d.Optimizer.LR, Usage: fmt.Sprintf("learning rate (%g with --optimizer sgd and no --lr)", sgdLR)},
		&cli.IntFlag{Name: "checkpoint-every", Value: d.CheckpointEvery, Usage: "steps between checkpoints (the last step always)"},
		&cli.DurationFlag{Name: "lease-timeout", Value: time.Duration(d.LeaseTimeout), Usage: "how long a worker may hold a shard"},
		&cli.DurationFlag{Name: "heartbeat-timeout", Value: time.Duration(d.HeartbeatTimeout), Usage: "silence after which a worker is lost"},
		&cli.StringFlag{Name: "db", Value: "fsl.db", Usage: "checkpoint store (bbolt file)"},
		&cli.StringFlag{Name: "nats", Usage: "use this NATS server instead of the embedded one (nats://host:4222)"},
		&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4222", Usage: "embedded NATS server address (port 0: any free port); off loopback it needs --token, --auth, client certificates or --insecure"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"FSL_TOKEN"}, Usage: "shared token clients must present (with --nats: the token this process presents)"},
		authFlag,
		&cli.IntFlag{Name: "local-workers", Usage: "run this many workers inside this process"},
		&cli.IntFlag{Name: "threads", Usage: "compute threads per local worker; 0: all cores, so a worker waiting at the step barrier leaves its cores to the others (results do not depend on it)"},
		&cli.IntFlag{Name: "eval-every", Value: d.EvalEvery, Usage: "validate on held-out validation classes every N steps (0: never); picks the best checkpoint"},
		&cli.IntFlag{Name: "val-episodes", Value: 100, Usage: "5-way 1-shot episodes per validation"},
		&cli.IntFlag{Name: "eval-episodes", Value: 200, Usage: "5-way 1-shot episodes on held-out classes after training (0: skip)"},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress line"},
		&cli.StringFlag{Name: "summary", Usage: "also write the run's summary (final params sha256, counters) as JSON to this file"},
		&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug, info, warn or error"},
		logFormatFlag(),
		&cli.StringFlag{Name: "http", Value: "127.0.0.1:8080", Usage: "serve the dashboard, /metrics (Prometheus), /status and /healthz on this address (\"\": off)"},
		httpTokenFlag("bearer token the HTTP monitor requires on all but /metrics, /healthz and /readyz"),
		&cli.BoolFlag{Name: "pprof", Usage: "serve Go's profiles on the HTTP monitor under /debug/pprof/"},
		insecureFlag(),
	}, tlsStartFlags()...)
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "train a job: embedded NATS unless --nats, resuming from the newest checkpoint in --db",
		Description: "Trains the job the flags and --config describe. With --local-workers N the workers run in this\n" +
			"process, so one command trains end to end (with the embedded server they and the coordinator connect\n" +
			"to it in memory, not through a socket); otherwise start fsl-worker processes against --listen.\n" +
			"Exits 0 when the job completes.",
		Flags:  startFlags(),
		Action: runStart,
	}
}

// loadSpec reads --config (if any) and applies the flags that were given.
// A given 0 (flag or field) that WithDefaults would replace is an error, not
// the default.
func loadSpec(c *cli.Context) (coordinator.JobSpec, error) {
	var spec coordinator.JobSpec
	if path := c.String("config"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return spec, fmt.Errorf("--config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&spec); err != nil && !errors.Is(err, io.EOF) {
			return spec, fmt.Errorf("--config %s: %w", path, err)
		}
		if err := explicitZeros(path, b); err != nil {
			return spec, err
		}
	}
	if err := givenJobFlags(c); err != nil {
		return spec, err
	}
	str := map[string]*string{"job": &spec.ID, "loss": &spec.Loss, "data": &spec.Dataset, "split": &spec.Split, "optimizer": &spec.Optimizer.Name}
	for name, p := range str {
		if c.IsSet(name) {
			*p = c.String(name)
		}
	}
	ints := map[string]*int{"size": &spec.Size, "way": &spec.Way, "shot": &spec.Shot, "query": &spec.Query, "pairs": &spec.Pairs,
		"triplets": &spec.Triplets, "shards": &spec.Shards, "steps": &spec.Steps, "checkpoint-every": &spec.CheckpointEvery,
		"eval-every": &spec.EvalEvery}
	for name, p := range ints {
		if c.IsSet(name) {
			*p = c.Int(name)
		}
	}
	if c.IsSet("rotations") {
		spec.Rotations = c.Bool("rotations")
	}
	if c.IsSet("seed") {
		spec.Seed = c.Uint64("seed")
	}
	if c.IsSet("lr") {
		spec.Optimizer.LR = c.Float64("lr")
	}
	if c.IsSet("lease-timeout") {
		spec.LeaseTimeout = coordinator.Duration(c.Duration("lease-timeout"))
	}
	if c.IsSet("heartbeat-timeout") {
		spec.HeartbeatTimeout = coordinator.Duration(c.Duration("heartbeat-timeout"))
	}
	spec = spec.WithDefaults()
	return spec, spec.Validate()
}

func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch f := c.String("log-format"); f {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", f)
	}
}

func runStart(c *cli.Context) error {
	url, token := c.String("nats"), c.String("token")
	tlsCfg, err := tlsConfig(c, url == "")
	if err != nil {
		return err
	}
	if url == "" {
		if err := checkListen(c, token, tlsCfg); err != nil {
			return err
		}
	}
	if err := checkHTTP(c); err != nil {
		return err
	}
	spec, err := loadSpec(c)
	if err != nil {
		return err
	}
	if err := nonNegative(c, "local-workers", "threads", "val-episodes", "eval-episodes"); err != nil {
		return err
	}
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	out := c.App.Writer
	mon, stopHTTP, err := serveMonitor(c, spec.ID, log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	fmt.Fprintf(out, "job %s: %s loss on %s, %d steps × %d shards × %d images\n",
		spec.ID, spec.Loss, spec.Dataset, spec.Steps, spec.Shards, spec.SamplerConfig().Images())
	ds, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		return err
	}

	auth, err := startAuth(c)
	if err != nil {
		return err
	}
	var inProc *wire.Server // the embedded server, reached in memory
	clientTLS := tlsCfg
	if url == "" {
		// The server logs a client's permission violations (a worker
		// publishing a control message) into the coordinator's log.
		srv, err := wire.StartServer(wire.ServerOptions{Host: hostOf(c.String("listen")), Port: portOf(c.String("listen")), Token: token,
			Users: auth.users, TLS: tlsCfg, Logger: log})
		if err != nil {
			return fmt.Errorf("--listen %s: %w", c.String("listen"), err)
		}
		defer srv.Shutdown()
		// in memory there is no TLS to do: the server's config is not a client's
		url, inProc, clientTLS = srv.ClientURL(), srv, nil
		fmt.Fprintf(out, "embedded NATS at %s\n", url)
	}
	nc, err := wire.Connect(url, wire.ConnectOptions{Name: "fsl-coord " + spec.ID, Token: token, NKeyFile: auth.coordKey, TLS: clientTLS, Logger: log, InProcess: inProc})
	if err != nil {
		return fmt.Errorf("--nats %s: %w", url, err)
	}
	defer nc.Close()

	prog := newProgressLine(out, c.Bool("quiet"))
	driverDone := make(chan struct{})
	var wg sync.WaitGroup
	if n := c.Int("local-workers"); n > 0 {
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		threads := c.Int("threads")
		if threads < 1 {
			threads = runtime.GOMAXPROCS(0)
		}
		conn := wire.ConnectOptions{Token: token, NKeyFile: auth.workKey, TLS: clientTLS, Logger: log, InProcess: inProc}
		if err := startLocalWorkers(wctx, &wg, n, threads, spec.ID, url, conn); err != nil {
			return err
		}
		go func() { <-driverDone; time.AfterFunc(5*time.Second, cancel) }()
	}
	validate, err := newValidator(spec, c.Int("val-episodes"))
	if err != nil {
		return err
	}
	sum, err := runDriver(ctx, mon, coordinator.DriverConfig{Spec: spec, Dataset: ds, DB: c.String("db"), Conn: nc, Logger: log,
		Observer: coordinator.StepFunc(prog.step), Validate: validate})
	close(driverDone)
	prog.finish()
	wg.Wait()
	if err != nil {
		return err
	}
	if path := c.String("summary"); path != "" {
		if err := writeJSON(path, sum); err != nil {
			return fmt.Errorf("--summary: %w", err)
		}
	}
	if sum.ResumedFrom > 0 {
		fmt.Fprintf(out, "resumed from step %d\n", sum.ResumedFrom)
	}
	fmt.Fprintf(out, "done: step %d, loss %.4f, %d images in %s (%.0f images/s); params sha256 %s\n",
		sum.Version, sum.Loss, sum.Images, sum.Elapsed.Round(time.Millisecond), float64(sum.Images)/sum.Elapsed.Seconds(), sum.ParamsSHA256)
	fmt.Fprintf(out, "shards applied %d, leased %d, expired %d, duplicates %d, invalid %d, dropped payloads %d\n",
		sum.Counters.Applied, sum.Counters.Leased, sum.Counters.Expired, sum.Counters.Duplicates, sum.Counters.InvalidTotal, sum.Dropped)
	if n := c.Int("eval-episodes"); n > 0 {
		return finalEval(c, spec, n, sum.Version, mon)
	}
	return nil
}

// newValidator returns the driver's Validate hook for spec with --eval-every
// and --val-episodes n (nil when either is off): eval.NewValidator on the
// validation split of the job's dataset, opened once.
func newValidator(spec coordinator.JobSpec, n int) (func(int, params.Vector, params.Vector) (map[string]float64, error), error) {
	if spec.EvalEvery <= 0 || n <= 0 {
		return nil, nil
	}
	val, err := episodes.Open(spec.Dataset, episodes.Options{Size: spec.Size, Split: episodes.SplitVal})
	if err != nil {
		return nil, fmt.Errorf("validation classes of %q: %w", spec.Dataset, err)
	}
	v, err := eval.NewValidator(spec.ModelConfig(), val, n)
	if err != nil {
		return nil, fmt.Errorf("job %q: validation: %w", spec.ID, err)
	}
	return v, nil
}

// writeJSON writes v to path atomically: a reader never sees half a file.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// finalEval reports 5-way 1-shot accuracy of the last checkpoint (step) on
// the held-out (test) classes of the job's dataset, and shows it on the
// dashboard when mon is not nil.
func finalEval(c *cli.Context, spec coordinator.JobSpec, episodesN, step int, mon *coordinator.Monitor) error {
	test, err := episodes.Open(spec.Dataset, episodes.Options{Size: spec.Size, Split: episodes.SplitTest})
	if err != nil {
		return fmt.Errorf("held-out classes: %w", err)
	}
	net, err := loadNet(c.String("db"), spec.ID, checkpoints.Selector{})
	if err != nil {
		return err
	}
	r, err := eval.Episodes(net, test, eval.EpisodeConfig{Way: 5, Shot: 1, Query: 15, Episodes: episodesN, Seed: 1}, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "5-way 1-shot accuracy on held-out classes: %s\n", r)
	if mon != nil {
		mon.SetEvaluation([]coordinator.Evaluation{{Protocol: fmt.Sprintf("5-way 1-shot, %d episodes, held-out classes", r.Episodes),
			Step: step, Accuracy: r.Mean, CI95: r.CI95}})
	}
	return nil
}

// startLocalWorkers starts n workers in this process, each connected to url
// with conn (its Name set per worker).
func startLocalWorkers(ctx context.Context, wg *sync.WaitGroup, n, threads int, job, url string, conn wire.ConnectOptions) error {
	log := conn.Logger
	for i := 0; i < n; i++ {
		conn.Name = fmt.Sprintf("local-worker-%d", i)
		nc, err := wire.Connect(url, conn)
		if err != nil {
			return fmt.Errorf("local worker %d: %w", i, err)
		}
		wg.Add(1)
		go func(i int, nc *wire.Conn) {
			defer wg.Done()
			defer nc.Close()
			_, err := worker.Run(ctx, worker.Config{Job: job, Conn: nc, Name: fmt.Sprintf("local%d", i), Threads: threads, Logger: log})
			if err != nil {
				log.Error("local worker failed", "worker", i, "err", err)
			}
		}(i, nc)
	}
	return nil
}
