package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// workerFlags are fsl-worker's flags.
func workerFlags() []cli.Flag {
	return append([]cli.Flag{
		natsFlag("nats://127.0.0.1:4222", "NATS server of the coordinator"),
		tokenFlag("shared token of the NATS server"),
		credsFlag(),
		nkeyFlag(transport.RoleWorker),
		jobFlag("", "work only for this job ID; without it, for whatever job the coordinator assigns (fsl-coord serve's queue, or start's one job)"),
		&cli.IntFlag{Name: "gpu", Value: -1, Usage: "GPU index; -1 computes on the CPU (a CUDA build is needed for >= 0)"},
		&cli.IntFlag{Name: "threads", Value: 1, Usage: "compute threads per step (results do not depend on it)"},
		prefetchFlag(),
		&cli.StringFlag{Name: "name", Usage: "worker name in logs and status (default: host name)"},
		&cli.DurationFlag{Name: "give-up-after", Value: worker.DefaultGiveUpAfter,
			Usage: "exit 3 when no coordinator (of --job) has answered for this long (a mistyped --job, or a coordinator gone for good); 0: wait forever"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		logFormatFlag(),
		versionFlag,
		&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics (shards computed, compute seconds, ...) at http://ADDR/metrics, e.g. 127.0.0.1:9100"},
	}, tlsClientFlags()...)
}

// prefetchFlag is fsl-worker's --prefetch (worker.Config.Prefetch), also
// on bench cluster for its worker processes.
func prefetchFlag() cli.Flag {
	return &cli.IntFlag{Name: "prefetch", Value: 0, Usage: fmt.Sprintf("shards to ask for while computing one (0 to %d): pays off when a worker computes several shards a step (fast workers, many shards; docs/SCALING.md)", worker.MaxPrefetch)}
}

// checkPrefetch refuses a --prefetch outside 0..worker.MaxPrefetch.
func checkPrefetch(c *cli.Context) error {
	if n := c.Int("prefetch"); n < 0 || n > worker.MaxPrefetch {
		return fmt.Errorf("--prefetch %d: want 0 to %d (a coordinator lets one worker hold the shard in hand and %d more)", n, worker.MaxPrefetch, worker.MaxPrefetch)
	}
	return nil
}

// exitGaveUp is fsl-worker's exit status when it gave up on its job's
// coordinator (--give-up-after) or a coordinator said its --job does not
// exist: the Kubernetes worker Job's
// podFailurePolicy fails the whole Job on it instead of restarting workers
// that would wait again.
const exitGaveUp = 3

// NewWorkerApp returns the fsl-worker application.
func NewWorkerApp() *cli.App {
	return &cli.App{
		Name:  "fsl-worker",
		Usage: "compute gradients for an fsl coordinator",
		Description: "Joins the job on --nats, pulls shards, computes their gradients and replies, until the job is done\n" +
			"(exit 0). Without --job it asks the coordinator which job to work for: fsl-coord start's one job (exit 0\n" +
			"when it is done), or whatever fsl-coord serve's queue needs, job after job. Reconnects while the\n" +
			"coordinator or NATS is away, and exits 3 saying so when no coordinator has answered for\n" +
			"--give-up-after, or at once when a coordinator says --job is no job it runs. On SIGTERM it finishes the shard in hand, sends it, and exits 0.\n\n" +
			"Examples:\n" +
			"   fsl-worker --nats nats://coord:4222 --token \"$T\"             # any job of the coordinator\n" +
			"   fsl-worker --nats nats://coord:4222 --token \"$T\" --job omni   # only job omni\n" +
			"   fsl-worker --nats nats://coord:4222 --nkey auth/worker.nk --threads 4\n" +
			"   FSL_NATS=nats://coord:4222 FSL_TOKEN=$T FSL_JOB=omni fsl-worker --gpu 0   # a CUDA build",
		EnableBashCompletion: true,
		HideVersion:          true, // our own --version (versionFlag)
		Flags:                workerFlags(),
		Commands:             []*cli.Command{completionCommand("fsl-worker")},
		Action:               runWorker,
	}
}

func runWorker(c *cli.Context) error {
	gcForCompute()
	if c.Bool("version") {
		return printVersion(c)
	}
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("fsl-worker takes no arguments, got %q (flags start with --; fsl-worker --help lists them)", c.Args().Slice()), 2)
	}
	if err := positive(c, "threads"); err != nil {
		return err
	}
	if c.Duration("give-up-after") < 0 {
		return fmt.Errorf("--give-up-after %v: want 0 (never) or more", c.Duration("give-up-after"))
	}
	if err := atLeast(c, -1, "gpu"); err != nil {
		return fmt.Errorf("%w (-1: the CPU)", err)
	}
	if err := checkPrefetch(c); err != nil {
		return err
	}
	tlsCfg, err := tlsConfig(c, false)
	if err != nil {
		return err
	}
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	// a model on the default config checks the device now, before joining
	probe, err := model.New(model.Config{}, model.GPU(c.Int("gpu")))
	if err != nil {
		return fmt.Errorf("--gpu %d: %w", c.Int("gpu"), err)
	}
	if info := probe.DeviceInfo(); info != "" {
		log.Info("computing on the GPU", "device", info)
	} else {
		noteBLAS(log)
	}
	metrics, _, stopMetrics, err := serveWorkerMetrics(c.String("metrics"), log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := worker.Run(ctx, worker.Config{
		Metrics:  metrics,
		Job:      c.String("job"),
		NATS:     c.String("nats"),
		Connect:  transport.ConnectOptions{Token: c.String("token"), CredsFile: c.String("creds"), NKeyFile: c.String("nkey"), Role: transport.RoleWorker, TLS: tlsCfg},
		Name:     c.String("name"),
		Threads:  c.Int("threads"),
		Prefetch: c.Int("prefetch"),
		UseGPU:   c.Int("gpu") >= 0,
		GPU:      c.Int("gpu"),
		Logger:   log,
		// A mistyped --job, or a coordinator gone for good, ends the
		// worker (and frees its GPU) instead of waiting forever.
		GiveUpAfter: c.Duration("give-up-after"),
	})
	if errors.Is(err, worker.ErrGaveUp) || errors.Is(err, worker.ErrNoSuchJob) {
		return cli.Exit(err, exitGaveUp) // Main names the program
	}
	if err != nil {
		return err
	}
	log.Info("worker exiting", "shards", st.Shards, "params_fetched", st.ParamsFetched, "stale", st.Stale)
	return nil
}
