package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire/transport"
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
		&cli.StringFlag{Name: "config", Usage: "YAML job file: the fields are the flags' names with _ for - (dataset for --data, id for --job), some in blocks: optimizer: {name, lr, ...}, triplet: {mining, classes, images, margin}, matching: {temperature}, eval: {way, shot, ...}; given flags override it"},
		jobFlag(d.ID, "job ID"),
		&cli.StringFlag{Name: "loss", Value: d.Loss, Usage: "proto (prototypical networks), matching (Matching Networks: cosine attention over the support set), triplet or siamese"},
		&cli.StringFlag{Name: "data", Aliases: []string{"dataset"}, Value: d.Dataset, Usage: "dataset: glyphs (generated), or an Omniglot/miniImageNet/image-tree folder"},
		&cli.StringFlag{Name: "split", Aliases: []string{"split-file"}, Value: d.Split, Usage: "training split: train (background minus validation groups), a class-list file (a path ending in .txt), or one beside the Omniglot zips (vinyals/trainval: splits/vinyals/trainval.txt)"},
		&cli.StringFlag{Name: "val-split", Value: d.ValSplit, Usage: "classes validation measures (--eval-every): a split name or class list, as --split"},
		&cli.StringFlag{Name: "test-split", Value: d.TestSplit, Usage: "classes the final evaluation measures: a split name or class list, as --split"},
		&cli.IntFlag{Name: "size", Value: d.Size, Usage: "image side in pixels"},
		&cli.IntFlag{Name: "channels", Value: d.Channels, Usage: "colour planes of the images: 1 (grayscale) or 3 (RGB: image trees, miniImageNet and the glyphs drawn in colour; Omniglot is grayscale)"},
		&cli.BoolFlag{Name: "rotations", Value: d.Rotations, Usage: "add 90° rotations of each class as new classes"},
		&cli.IntFlag{Name: "way", Value: d.Way, Usage: "classes per proto shard"},
		&cli.IntFlag{Name: "shot", Value: d.Shot, Usage: "support images per class"},
		&cli.IntFlag{Name: "query", Value: d.Query, Usage: "query images per class"},
		&cli.IntFlag{Name: "pairs", Value: d.Pairs, Usage: "pairs per siamese shard"},
		&cli.IntFlag{Name: "triplets", Value: d.Triplets, Usage: "triplets per triplet shard (drawn at random: --mining none)"},
		&cli.StringFlag{Name: "mining", Value: d.Triplet.Mining, Usage: "triplet mining: none (random triplets), batch-hard or semi-hard (triplets mined from shards of --classes-per-shard × --images-per-class images)"},
		&cli.IntFlag{Name: "classes-per-shard", Value: d.Triplet.Classes, Usage: "classes per mined-triplet shard (P)"},
		&cli.IntFlag{Name: "images-per-class", Value: d.Triplet.Images, Usage: "images per class of a mined-triplet shard (K)"},
		&cli.Float64Flag{Name: "temperature", Usage: "matching loss: divide each cosine by this before the attention's softmax (0 or 1: plain cosines, nearly flat over a large support set; 0.1 sharpens it)"},
		&cli.IntFlag{Name: "shards", Value: d.Shards, Usage: "shards per step"},
		&cli.IntFlag{Name: "steps", Value: d.Steps, Usage: "optimizer steps"},
		&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "seed of initialisation and batches"},
		&cli.StringFlag{Name: "optimizer", Value: d.Optimizer.Name, Usage: "adam or sgd"},
		&cli.Float64Flag{Name: "lr", Value: d.Optimizer.LR, Usage: fmt.Sprintf("learning rate (%g with --optimizer sgd and no --lr)", sgdLR)},
		&cli.IntFlag{Name: "pipeline", Value: d.Pipeline, Usage: fmt.Sprintf("pipeline depth k, 0 to %d: step s is computed from the parameters of step s-k, so workers compute the next k steps while one is applied; another recipe (a delayed gradient) whose bits are the same for a given k whatever the workers do", machine.MaxPipeline)},
		&cli.IntFlag{Name: "checkpoint-every", Value: d.CheckpointEvery, Usage: "steps between checkpoints (the last step always)"},
		&cli.DurationFlag{Name: "lease-timeout", Value: time.Duration(d.LeaseTimeout), Usage: "how long a worker may hold a shard"},
		&cli.DurationFlag{Name: "heartbeat-timeout", Value: time.Duration(d.HeartbeatTimeout), Usage: "silence after which a worker is lost"},
		&cli.StringFlag{Name: "compute-class", Usage: "hold the job's workers to this compute class from the start: a worker's canary, 12 to 64 hex digits as fsl-coord status shows it for a job of the same model settings (its \"compute class\" line), or a worker's \"joined\" log line (--log-level info); workers of another class are refused (allow_mixed_classes in --config admits them). Default: the first worker's class"},
		&cli.Float64Flag{Name: "verify", Value: d.Verify, Usage: "fraction of shards (0 to 1) two workers compute and must agree on bit for bit; a worker that disagrees with two others is banned and the job rolls back past its results (see SECURITY.md)"},
		dbFlag("checkpoint store (bbolt file)"),
		natsFlag("", "use this NATS server instead of the embedded one (nats://host:4222)"),
		&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4222", Usage: "embedded NATS server address (port 0: any free port); off loopback it needs --token, --auth, client certificates or --insecure"},
		tokenFlag("shared token clients must present (with --nats: the token this process presents)"),
		credsFlag(),
		authFlag,
		&cli.IntFlag{Name: "local-workers", Usage: "run this many workers inside this process"},
		&cli.IntFlag{Name: "threads", Usage: "compute threads per local worker; 0: all cores, so a worker waiting at the step barrier leaves its cores to the others (results do not depend on it)"},
		&cli.IntFlag{Name: "eval-every", Value: d.EvalEvery, Usage: "validate on held-out validation classes every N steps (0: never); picks the best checkpoint"},
		&cli.IntFlag{Name: "patience", Value: d.Patience, Usage: "stop early once this many validations in a row (--eval-every) have not raised the best val_acc (0: train every step)"},
		&cli.IntFlag{Name: "val-episodes", Value: 100, Usage: "5-way 1-shot episodes per validation"},
		&cli.IntFlag{Name: "eval-episodes", Value: 200, Usage: "5-way 1-shot episodes on held-out classes after training (0: skip)"},
		&cli.StringFlag{Name: "summary", Usage: "also write the run's summary (final params sha256, counters) as JSON to this file"},
		&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug, info, warn or error"},
		logFormatFlag(),
		&cli.StringFlag{Name: "http", Value: "127.0.0.1:8080", Usage: "serve the dashboard, /metrics (Prometheus), /status and /healthz on this address (\"\": off)"},
		httpTokenFlag("bearer token the HTTP monitor requires on all but /metrics, /healthz and /readyz"),
		&cli.BoolFlag{Name: "pprof", Usage: "serve Go's profiles on the HTTP monitor under /debug/pprof/"},
		insecureFlag(),
	}, append(progressFlags(), tlsStartFlags()...)...)
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "train a job: embedded NATS unless --nats, resuming from the newest checkpoint in --db",
		Description: "Trains the job the flags and --config describe. With --local-workers N the workers run in this\n" +
			"process, so one command trains end to end (with the embedded server they and the coordinator connect\n" +
			"to it in memory, not through a socket); otherwise start fsl-worker processes against --listen.\n" +
			"Exits 0 when the job completes. Rerun the same command to resume from the newest checkpoint in --db.\n" +
			"Ctrl-C or SIGTERM writes a checkpoint and exits with 130 or 143 (128 + the signal's number).\n\n" +
			"Examples:\n" +
			"   fsl-coord start --local-workers 2                        # job \"fsl\" on generated glyphs, into fsl.db\n" +
			"   fsl-coord start --job omni --data /data/omniglot --rotations --steps 5000 \\\n" +
			"       --listen 0.0.0.0:4222 --token \"$T\"                   # workers on other machines: fsl-worker\n" +
			"   fsl-coord start --config job.yaml --steps 8000           # a YAML job, trained longer\n" +
			"   fsl-coord start --local-workers 2 --eval-every 100       # validate, so eval --checkpoint best has a choice",
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
		var err error
		if spec, err = readJobFile(path); err != nil {
			return spec, fmt.Errorf("--config: %w", err)
		}
	}
	if err := givenJobFlags(c); err != nil {
		return spec, err
	}
	str := map[string]*string{"job": &spec.ID, "loss": &spec.Loss, "data": &spec.Dataset, "split": &spec.Split,
		"val-split": &spec.ValSplit, "test-split": &spec.TestSplit, "optimizer": &spec.Optimizer.Name, "mining": &spec.Triplet.Mining,
		"compute-class": &spec.ComputeClass}
	for name, p := range str {
		if c.IsSet(name) {
			*p = c.String(name)
		}
	}
	ints := map[string]*int{"size": &spec.Size, "channels": &spec.Channels, "way": &spec.Way, "shot": &spec.Shot, "query": &spec.Query, "pairs": &spec.Pairs,
		"triplets": &spec.Triplets, "shards": &spec.Shards, "steps": &spec.Steps, "checkpoint-every": &spec.CheckpointEvery,
		"eval-every": &spec.EvalEvery, "patience": &spec.Patience, "pipeline": &spec.Pipeline, "classes-per-shard": &spec.Triplet.Classes,
		"images-per-class": &spec.Triplet.Images}
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
	if c.IsSet("verify") {
		spec.Verify = c.Float64("verify")
	}
	if c.IsSet("temperature") {
		spec.Matching.Temperature = float32(c.Float64("temperature"))
	}
	if c.IsSet("lease-timeout") {
		spec.LeaseTimeout = coordinator.Duration(c.Duration("lease-timeout"))
	}
	if c.IsSet("heartbeat-timeout") {
		spec.HeartbeatTimeout = coordinator.Duration(c.Duration("heartbeat-timeout"))
	}
	if c.IsSet("compute-class") {
		if err := coordinator.CheckComputeClass(spec.ComputeClass); err != nil {
			return spec, fmt.Errorf("--compute-class: %w", err)
		}
	}
	spec = spec.WithDefaults()
	if err := spec.CheckWay(); err != nil && c.IsSet("way") {
		return spec, fmt.Errorf("--way %w", err)
	}
	if err := spec.Validate(); err != nil {
		return spec, err
	}
	return spec, spec.CheckSplits()
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

// serverTLS checks the flags of a coordinator's servers (--listen off
// loopback needs credentials, --http likewise, --creds only with --nats)
// and returns the TLS config of the embedded NATS server (nil for none).
func serverTLS(c *cli.Context) (*tls.Config, error) {
	url := c.String("nats")
	tlsCfg, err := tlsConfig(c, url == "")
	if err != nil {
		return nil, err
	}
	if url == "" {
		if _, _, err := listenAddr(c); err != nil {
			return nil, err
		}
		if err := checkListen(c, c.String("token"), tlsCfg); err != nil {
			return nil, err
		}
	}
	if err := checkHTTP(c); err != nil {
		return nil, err
	}
	if c.String("creds") != "" && url == "" {
		return nil, errors.New("--creds is a user of an external NATS server: give it with --nats (the embedded server takes --token or --auth)")
	}
	return tlsCfg, nil
}

func runStart(c *cli.Context) error {
	if c.Int("local-workers") > 0 {
		gcForCompute()
	} else {
		defer gcForCoordinator()()
	}
	tlsCfg, err := serverTLS(c)
	if err != nil {
		return err
	}
	spec, err := loadSpec(c)
	if err != nil {
		return err
	}
	if err := nonNegative(c, "local-workers", "threads", "val-episodes", "eval-episodes"); err != nil {
		return err
	}
	if n := c.Int("val-episodes"); n == 0 && spec.EvalEvery > 0 {
		return fmt.Errorf("--val-episodes 0 with --eval-every %d (eval_every): a validation needs episodes; "+
			"give --val-episodes 1 or more, or --eval-every 0 to validate never", spec.EvalEvery)
	}
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	prog, err := newProgressLine(c)
	if err != nil {
		return err
	}
	db := c.String("db")
	out := c.App.Writer
	// Before anything starts: "resuming" is the first line, and a rerun
	// with other settings is refused before servers and workers start.
	from, err := resumeStep(db, spec)
	if err != nil {
		return err
	}
	switch {
	case from >= spec.Steps:
		fmt.Fprintf(out, "job %s is done in %s (step %d of %d): nothing to train; for a new run: --job other, fsl-coord checkpoints rm --db %s --job %s, or rm %s\n",
			spec.ID, db, from, spec.Steps, db, spec.ID, db)
	case from > 0:
		fmt.Fprintf(out, "resuming job %s from step %d of %d (the newest checkpoint in %s)\n", spec.ID, from, spec.Steps, db)
	}
	noteBLAS(log)
	ctx, interrupted, stop := notifyInterrupt(c.Context)
	defer stop()

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

	tr, err := openNATS(c, "fsl-coord "+spec.ID, tlsCfg, log)
	if err != nil {
		return err
	}
	defer tr.close()
	url, nc := tr.url, tr.nc
	if tr.embedded {
		fmt.Fprintf(out, "embedded NATS at %s\n", url)
	}
	// A worker started without --job asks which job to work for: this one.
	assign, err := coordinator.AssignOne(nc, spec.ID, log)
	if err != nil {
		return err
	}
	defer assign.Unsubscribe() //nolint:errcheck // shutting down

	driverDone := make(chan struct{})
	var wg sync.WaitGroup
	if n := c.Int("local-workers"); n > 0 {
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		threads := c.Int("threads")
		if threads < 1 {
			threads = runtime.GOMAXPROCS(0)
		}
		conn := tr.workerConn(c, log)
		if err := startLocalWorkers(wctx, &wg, n, threads, spec.ID, url, conn); err != nil {
			return err
		}
		go func() {
			<-driverDone
			if interrupted() != nil {
				cancel() // no Done is coming: stop them now
				return
			}
			time.AfterFunc(5*time.Second, cancel)
		}()
	}
	validate, err := newValidator(spec, c.Int("val-episodes"))
	if err != nil {
		return err
	}
	sum, err := runDriver(ctx, mon, coordinator.DriverConfig{Spec: spec, Dataset: ds, DB: db, Conn: nc, Logger: log,
		Observer: coordinator.StepFunc(prog.step), Validate: validate})
	close(driverDone)
	prog.finish()
	wg.Wait()
	if sig := interrupted(); sig != nil && errors.Is(err, context.Canceled) {
		return stopped(c, sig, spec, db)
	}
	if err != nil {
		return err
	}
	if path := c.String("summary"); path != "" {
		if err := writeJSON(path, sum); err != nil {
			return fmt.Errorf("--summary: %w", err)
		}
	}
	if sum.StoppedEarly {
		fmt.Fprintf(out, "stopped early at step %d of %d: no better val_acc in the last %d validations (the best checkpoint is the one to use)\n",
			sum.Version, spec.Steps, spec.Patience)
	}
	trained := "nothing trained in this run" // a finished job, rerun
	if sum.Images > 0 {
		trained = fmt.Sprintf("%d images in %s (%.0f images/s)", sum.Images, sum.Elapsed.Round(time.Millisecond), float64(sum.Images)/sum.Elapsed.Seconds())
	}
	fmt.Fprintf(out, "done: step %d, loss %.4f, %s; params sha256 %s\n", sum.Version, sum.Loss, trained, sum.ParamsSHA256)
	cn := sum.Counters
	fmt.Fprintf(out, "shards applied %d, leased %d, expired %d, duplicates %d, lost races %d, invalid %d, dropped payloads %d\n",
		cn.Applied, cn.Leased, cn.Expired, cn.Duplicates, cn.LostRaces, cn.InvalidTotal, sum.Dropped)
	if spec.Verify > 0 || cn.Bans > 0 {
		fmt.Fprintf(out, "verified shards %d, mismatches %d, workers banned %d, rollbacks %d (%d steps recomputed)\n",
			cn.Checks, cn.Mismatches, cn.Bans, cn.Rollbacks, cn.StepsRolledBack)
	}
	if n := c.Int("eval-episodes"); n > 0 {
		return finalEval(c, spec, n, mon)
	}
	return nil
}

// resumeStep is the step a rerun of job spec.ID in the store db resumes
// from (0 for a new job), read before anything starts. A rerun with other
// settings is an error naming them (coordinator.CheckResume). The driver
// makes the same checks when it opens the store, and reports what this
// cannot read.
func resumeStep(db string, spec coordinator.JobSpec) (int, error) {
	if _, err := os.Stat(db); err != nil {
		return 0, nil
	}
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly(), checkpoints.WithLockTimeout(200*time.Millisecond))
	if err != nil {
		return 0, nil
	}
	defer st.Close()
	rec, err := st.Job(spec.ID)
	if err != nil {
		return 0, nil
	}
	old, err := coordinator.DecodeSpec(rec)
	if err != nil {
		return 0, nil
	}
	if err := coordinator.CheckResume(db, old, spec); err != nil {
		return 0, err
	}
	ckpt, err := st.Latest(spec.ID)
	if err != nil {
		return 0, nil
	}
	return int(ckpt.Step), nil
}

// stopped is start's end after SIGINT or SIGTERM: the driver has written
// a checkpoint of the step it was at; one line says where and how to go
// on, and the exit status is 128 + the signal's number (130, 143), as a
// shell reports a process the signal ended.
func stopped(c *cli.Context, sig os.Signal, spec coordinator.JobSpec, db string) error {
	where, step := "no checkpoint was written", -1
	if st, err := checkpoints.Open(db, checkpoints.WithReadOnly()); err == nil {
		if ckpt, err := st.Latest(spec.ID); err == nil {
			where, step = fmt.Sprintf("its newest checkpoint is step %d of %d in %s", ckpt.Step, spec.Steps, db), int(ckpt.Step)
		}
		st.Close()
	}
	if c.String("log-format") == "json" { // stderr stays JSON records
		slog.New(slog.NewJSONHandler(c.App.ErrWriter, nil)).Warn("stopped: run the same command again to resume",
			"job", spec.ID, "signal", signalName(sig), "checkpoint_step", step, "db", db)
	} else {
		fmt.Fprintf(c.App.ErrWriter, "stopped by %s: %s; run the same command again to resume job %s\n", signalName(sig), where, spec.ID)
	}
	return cli.Exit("", exitCodeOf(sig))
}

// newValidator returns the driver's Validate hook for spec with --eval-every
// and --val-episodes n (nil when either is off): eval.NewValidator on the
// validation split of the job's dataset, opened once.
func newValidator(spec coordinator.JobSpec, n int) (func(int, params.Vector, params.Vector) (map[string]float64, error), error) {
	if spec.EvalEvery <= 0 || n <= 0 {
		return nil, nil
	}
	val, err := episodes.Open(spec.Dataset, spec.SplitOptions(spec.ValSplit))
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
func finalEval(c *cli.Context, spec coordinator.JobSpec, episodesN int, mon *coordinator.Monitor) error {
	test, err := episodes.Open(spec.Dataset, spec.SplitOptions(spec.TestSplit))
	if err != nil {
		return fmt.Errorf("held-out classes: %w", err)
	}
	// A validated job is measured at its best checkpoint (the one to use,
	// and the only one to use when patience stopped it), others at their
	// last.
	var sel checkpoints.Selector
	if spec.EvalEvery > 0 {
		if sel, err = checkpoints.ParseSelector("best"); err != nil {
			return err
		}
	}
	lc, err := readCheckpoint(c.String("db"), spec.ID, sel, 0)
	if err != nil {
		return err
	}
	net, _, err := buildNet(lc)
	if err != nil {
		return err
	}
	r, err := eval.Episodes(net, test, eval.EpisodeConfig{Way: 5, Shot: 1, Query: 15, Episodes: episodesN, Seed: 1}, nil)
	if err != nil {
		return err
	}
	step := int(lc.ckpt.Step)
	which := fmt.Sprintf("step %d", step)
	if spec.EvalEvery > 0 {
		which = fmt.Sprintf("step %d, the best by %s", step, checkpoints.DefaultBestMetric)
	}
	fmt.Fprintf(c.App.Writer, "5-way 1-shot accuracy on held-out classes (%s): %s\n", which, r)
	if mon != nil {
		mon.SetEvaluation([]coordinator.Evaluation{{Protocol: fmt.Sprintf("5-way 1-shot, %d episodes, held-out classes", r.Episodes),
			Step: step, Accuracy: r.Mean, CI95: r.CI95}})
	}
	return nil
}

// startLocalWorkers starts n workers in this process, each connected to url
// with conn (its Name set per worker).
func startLocalWorkers(ctx context.Context, wg *sync.WaitGroup, n, threads int, job, url string, conn transport.ConnectOptions) error {
	log := conn.Logger
	for i := 0; i < n; i++ {
		conn.Name = fmt.Sprintf("local-worker-%d", i)
		nc, err := transport.Connect(url, conn)
		if err != nil {
			return fmt.Errorf("local worker %d: %w", i, err)
		}
		wg.Add(1)
		go func(i int, nc *transport.Conn) {
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

// natsLink is a coordinator's NATS: the embedded server (unless --nats)
// and the coordinator's connection to it.
type natsLink struct {
	url       string
	nc        *transport.Conn
	inProc    *transport.Server // the embedded server, reached in memory; nil with --nats
	clientTLS *tls.Config       // what clients of url present (nil in memory)
	auth      roleAuth
	embedded  bool
	srv       *transport.Server
}

// openNATS starts the embedded NATS server unless --nats names one
// (--listen, --token, --auth, TLS) and connects to it as name.
func openNATS(c *cli.Context, name string, tlsCfg *tls.Config, log *slog.Logger) (*natsLink, error) {
	t := &natsLink{url: c.String("nats"), clientTLS: tlsCfg}
	var err error
	if t.auth, err = startAuth(c); err != nil {
		return nil, err
	}
	if t.url == "" {
		// The server logs a client's permission violations (a worker
		// publishing a control message) into the coordinator's log.
		host, port, err := listenAddr(c)
		if err != nil {
			return nil, err
		}
		srv, err := transport.StartServer(transport.ServerOptions{Host: host, Port: port, Token: c.String("token"),
			Users: t.auth.users, TLS: tlsCfg, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("--listen %s: %w", c.String("listen"), err)
		}
		// in memory there is no TLS to do: the server's config is not a client's
		t.url, t.inProc, t.clientTLS, t.embedded, t.srv = srv.ClientURL(), srv, nil, true, srv
	}
	t.nc, err = transport.Connect(t.url, transport.ConnectOptions{Name: name, Token: c.String("token"), CredsFile: c.String("creds"), NKeyFile: t.auth.coordKey, Role: transport.RoleCoordinator,
		TLS: t.clientTLS, Logger: log, InProcess: t.inProc})
	if err != nil {
		if t.srv != nil {
			t.srv.Shutdown()
		}
		return nil, fmt.Errorf("--nats %s: %w", t.url, err)
	}
	return t, nil
}

// workerConn is how this process's local workers connect.
func (t *natsLink) workerConn(c *cli.Context, log *slog.Logger) transport.ConnectOptions {
	return transport.ConnectOptions{Token: c.String("token"), NKeyFile: t.auth.workKey, Role: transport.RoleWorker, TLS: t.clientTLS, Logger: log, InProcess: t.inProc}
}

func (t *natsLink) close() {
	t.nc.Close()
	if t.srv != nil {
		t.srv.Shutdown()
	}
}
