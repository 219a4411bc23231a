package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

func benchClusterCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "cluster",
			Usage: "efficiency: a coordinator with N worker processes against N independent single-process trainers",
			Description: "Runs the job --runs times each way and prints the medians: images/s of a coordinator with\n" +
				"--workers fsl-worker processes (steady state, from step --warmup on), and the summed images/s of\n" +
				"--workers concurrent `bench train` processes computing the same batches without NATS.\n\n" +
				"Examples:\n" +
				"   fsl-coord bench cluster --workers 2 --runs 3",
			Flags: append(jobFlags(),
				&cli.IntFlag{Name: "workers", Value: 2, Usage: "worker processes (and baseline trainers)"},
				&cli.IntFlag{Name: "runs", Value: 3, Usage: "runs of each kind"},
				&cli.IntFlag{Name: "warmup", Value: 3, Usage: "steps not timed at the start of a distributed run"},
				&cli.StringFlag{Name: "worker-bin", Usage: "fsl-worker binary (default: beside this one)"},
				prefetchFlag(),
			),
			Action: runBenchCluster,
		},
		{
			Name:  "scale",
			Usage: "scale: many simulated workers with fake gradients of Conv-4's size against one coordinator",
			Description: "Runs the job with --workers simulated workers that compute nothing (64 shards a step unless\n" +
				"--shards is given) and prints the shards applied per second over the whole run and in steady state\n" +
				"(from the job's first tenth of steps to its last step), the CPU per shard of the coordinator's\n" +
				"process and of the workers', and the machine's busy cores. It fails unless every shard was applied\n" +
				"exactly once. Simulated workers fetch no parameters unless --fetch-params (then the summary counts the\n" +
				"versions served). docs/SCALING.md models what it measures.\n\n" +
				"Examples:\n" +
				"   fsl-coord bench scale --workers 64 --steps 200\n" +
				"   fsl-coord bench scale --workers 256 --steps 200 --pipeline 1 --cpuprofile scale.pprof",
			Flags: append(jobFlags(),
				&cli.IntFlag{Name: "workers", Value: 64, Usage: "simulated workers, each with its own NATS connection, in one child process"},
				&cli.StringFlag{Name: "cpuprofile", Usage: "write the coordinator process's CPU profile (go tool pprof) to this file, and the simulated workers' to FILE.workers"},
				fetchParamsFlag,
			),
			Action: runBenchScale,
		},
		{
			Name:   "fake-workers",
			Hidden: true,
			Usage:  "run N workers that send deterministic fake gradients (used by bench scale)",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "workers", Value: 64},
				&cli.StringFlag{Name: "nats", Required: true},
				&cli.StringFlag{Name: "job", Value: "fsl"},
				&cli.IntFlag{Name: "grad-len", Required: true},
				&cli.IntFlag{Name: "state-len"},
				&cli.StringFlag{Name: "cpuprofile"},
				fetchParamsFlag,
			},
			Action: runFakeWorkers,
		},
	}
}

// fetchParamsFlag is bench scale's --fetch-params, passed on to its
// simulated workers (worker.Config.FetchParams).
var fetchParamsFlag = &cli.BoolFlag{Name: "fetch-params", Usage: "simulated workers fetch each parameter version they compute at, as real ones do (the coordinator's parameter fan-out); without it they fetch none"}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func siblingBinary(c *cli.Context, flag, name string) (string, error) {
	if p := c.String(flag); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("--%s: %s not found beside %s (go build -o DIR/ ./cmd/...): %w", flag, name, self, err)
	}
	return p, nil
}

// jobArgsOf renders the job-describing flags that were set, to pass the
// same job to child processes.
func jobArgsOf(c *cli.Context) []string {
	var args []string
	for _, f := range jobFlags() {
		n := f.Names()[0]
		if c.IsSet(n) {
			args = append(args, "--"+n+"="+fmt.Sprint(c.Value(n)))
		}
	}
	return args
}

func runBenchCluster(c *cli.Context) error {
	if err := checkPrefetch(c); err != nil {
		return err
	}
	if err := positive(c, "workers", "runs"); err != nil {
		return err
	}
	if err := nonNegative(c, "warmup"); err != nil {
		return err
	}
	spec, err := loadSpec(c)
	if err != nil {
		return err
	}
	defer gcForCoordinator()() // the workers are processes of their own
	workerBin, err := siblingBinary(c, "worker-bin", "fsl-worker")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	out := c.App.Writer
	n, warm := c.Int("workers"), c.Int("warmup")
	if spec.Steps <= warm+1 {
		return fmt.Errorf("--steps %d: need more than --warmup %d + 1", spec.Steps, warm)
	}
	ds, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bench cluster: %s loss, %d steps × %d shards × %d images, %d workers, %d runs\n",
		spec.Loss, spec.Steps, spec.Shards, spec.SamplerConfig().Images(), n, c.Int("runs"))
	var dist, base []float64
	for r := 0; r < c.Int("runs"); r++ {
		rate, err := distributedRate(c.Context, spec, ds, workerBin, c.Int("prefetch"), n, warm)
		if err != nil {
			return fmt.Errorf("distributed run %d: %w", r+1, err)
		}
		dist = append(dist, rate)
		sum, err := baselineRate(c.Context, self, jobArgsOf(c), n)
		if err != nil {
			return fmt.Errorf("baseline run %d: %w", r+1, err)
		}
		base = append(base, sum)
		fmt.Fprintf(out, "run %d: coordinator + %d workers %.0f images/s; %d independent trainers %.0f images/s\n", r+1, n, rate, n, sum)
	}
	md, mb := median(dist), median(base)
	fmt.Fprintf(out, "median: distributed %.0f images/s, independent %.0f images/s, efficiency %.1f%%\n", md, mb, 100*md/mb)
	return nil
}

// distributedRate runs the job with an in-process coordinator (embedded
// NATS, a temporary store) and n worker processes, and returns images/s
// from step warm to the end.
func distributedRate(ctx context.Context, spec coordinator.JobSpec, ds *episodes.Dataset, workerBin string, prefetch, n, warm int) (float64, error) {
	dir, err := os.MkdirTemp("", "fsl-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	// In memory, as start connects to its embedded server.
	nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "bench-coord", InProcess: srv})
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	var t0, t1 time.Time
	var i0, i1 int
	d, err := coordinator.NewDriver(coordinator.DriverConfig{Spec: spec, Dataset: ds, DB: filepath.Join(dir, "fsl.db"), Conn: nc,
		Observer: coordinator.StepFunc(func(p coordinator.Progress) {
			if p.Step == warm {
				t0, i0 = time.Now(), p.Images
			}
			t1, i1 = time.Now(), p.Images
		})})
	if err != nil {
		return 0, err
	}
	var procs []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.CommandContext(ctx, workerBin, "--nats", srv.ClientURL(), "--job", spec.ID, "--name", fmt.Sprintf("bench%d", i), "--log-level", "warn",
			"--prefetch", strconv.Itoa(prefetch))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		procs = append(procs, cmd)
	}
	_, err = d.Run(ctx)
	for _, p := range procs {
		p.Wait() //nolint:errcheck // workers exit 0 on done; a failure shows on stderr
	}
	if err != nil {
		return 0, err
	}
	return float64(i1-i0) / t1.Sub(t0).Seconds(), nil
}

// baselineRate runs n `bench train` processes at once on the same job and
// returns the sum of their images/s.
func baselineRate(ctx context.Context, self string, jobArgs []string, n int) (float64, error) {
	dir, err := os.MkdirTemp("", "fsl-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			args := append([]string{"bench", "train", "--eval-episodes", "0", "--quiet", "--summary", filepath.Join(dir, strconv.Itoa(i)+".json")}, jobArgs...)
			cmd := exec.CommandContext(ctx, self, args...)
			cmd.Stderr = os.Stderr
			errs[i] = cmd.Run()
		}(i)
	}
	wg.Wait()
	var sum float64
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			return 0, errs[i]
		}
		var r benchTrainResult
		if err := readJSON(filepath.Join(dir, strconv.Itoa(i)+".json"), &r); err != nil {
			return 0, err
		}
		sum += r.ImagesPerSec
	}
	return sum, nil
}

func runBenchScale(c *cli.Context) error {
	if err := positive(c, "workers"); err != nil {
		return err
	}
	spec, err := loadSpec(c)
	if err != nil {
		return err
	}
	defer gcForCoordinator()()
	if !c.IsSet("shards") {
		spec.Shards = 64
	}
	if !c.IsSet("steps") {
		spec.Steps = 100
	}
	if !c.IsSet("checkpoint-every") {
		spec.CheckpointEvery = 0
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	out := c.App.Writer
	ds, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		return err
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "fsl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	// In memory, as start connects to its embedded server.
	nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "bench-coord", InProcess: srv})
	if err != nil {
		return err
	}
	defer nc.Close()
	quiet := warnLogger(c.App.ErrWriter)
	d, err := coordinator.NewDriver(coordinator.DriverConfig{Spec: spec, Dataset: ds, DB: filepath.Join(dir, "fsl.db"), Conn: nc, Logger: quiet})
	if err != nil {
		return err
	}
	n := c.Int("workers")
	fmt.Fprintf(out, "bench scale: %d simulated workers, %d steps × %d shards, fake gradients of %d floats\n", n, spec.Steps, spec.Shards, m.NumParams())
	args := []string{"bench", "fake-workers", "--workers", strconv.Itoa(n), "--nats", srv.ClientURL(),
		"--job", spec.ID, "--grad-len", strconv.Itoa(m.NumParams()), "--state-len", strconv.Itoa(m.StateLayout().Size())}
	if path := c.String("cpuprofile"); path != "" {
		args = append(args, "--cpuprofile", path+".workers")
	}
	if c.Bool("fetch-params") {
		args = append(args, "--fetch-params")
	}
	cmd := exec.CommandContext(c.Context, self, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	// Workers that fail leave the job waiting forever: stop it then.
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			cancel()
		}
		waited <- err
	}()
	stop, err := startCPUProfile(c.String("cpuprofile"))
	if err != nil {
		return err
	}
	defer stop()
	start, cpu0, busy0 := time.Now(), selfCPUSeconds(), readMachineCPU()
	steady := watchSteady(ctx, d, max(1, spec.Steps/10), spec.Steps)
	sum, err := d.Run(ctx)
	secs, cpu, busy := time.Since(start).Seconds(), selfCPUSeconds()-cpu0, readMachineCPU().since(busy0)
	marks := steady.stop()
	if werr := <-waited; werr != nil {
		return fmt.Errorf("fake workers: %w", werr)
	}
	if err != nil {
		return err
	}
	k := sum.Counters
	want := spec.Steps * spec.Shards
	fmt.Fprintf(out, "applied %d of %d shards, leased %d (%d backups), copies dropped %d (%d duplicates, %d lost races), invalid %d, expired %d, workers joined %d\n",
		k.Applied, want, k.Leased, k.Backups, k.Duplicates+k.LostRaces, k.Duplicates, k.LostRaces, k.InvalidTotal, k.Expired, k.WorkersJoined)
	fmt.Fprintf(out, "coordinator: %.0f shards/s over %.1f s, peak RSS %.0f MiB\n", float64(k.Applied)/secs, secs, peakRSSMiB())
	var wcpu float64
	if ps := cmd.ProcessState; ps != nil {
		wcpu = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	mb := float64(4*(m.NumParams()+m.StateLayout().Size())) / (1 << 20)
	fetched := "simulated workers fetch no parameters (--fetch-params: as real ones, each version they compute at)"
	if c.Bool("fetch-params") {
		fetched = fmt.Sprintf("%d parameter versions of %.1f MiB served, %.1f per step", sum.ParamsServed, mb, float64(sum.ParamsServed)/float64(spec.Steps))
	}
	fmt.Fprintf(out, "cpu: coordinator process (with its NATS server) %.0f µs per shard (%.2f cores), simulated workers %.0f µs per shard; "+
		"%.1f MiB of gradients in per step; %s\n",
		1e6*cpu/float64(k.Applied), cpu/secs, 1e6*wcpu/float64(k.Applied), float64(spec.Shards)*mb, fetched)
	cores := float64(runtime.NumCPU())
	if busy >= 0 {
		fmt.Fprintf(out, "machine: %.2f of %.0f cores busy (every process and the kernel, this run's start included), %.0f µs of CPU per shard\n",
			busy*cores, cores, 1e6*busy*cores*secs/float64(k.Applied))
	}
	if from, to := marks[0], marks[1]; from.step > 0 && to.step > from.step {
		// A run's start and end are not what a running job pays per shard.
		n, secs := float64((to.step-from.step)*spec.Shards), to.at.Sub(from.at).Seconds()
		busy := to.cpu.since(from.cpu)
		fmt.Fprintf(out, "steady, steps %d to %d: %.0f shards/s", from.step+1, to.step, n/secs)
		if busy >= 0 {
			fmt.Fprintf(out, ", machine %.2f of %.0f cores busy, %.0f µs of CPU per shard", busy*cores, cores, 1e6*busy*cores*secs/n)
		}
		fmt.Fprintln(out)
	}
	// A copy of a done shard is dropped, never applied (Machine.Result),
	// so Applied == Steps × Shards says no shard was lost or applied twice.
	if k.Applied != want || k.InvalidTotal != 0 {
		return fmt.Errorf("%d shards applied, want %d; %d invalid results (by reason: %v)", k.Applied, want, k.InvalidTotal, sum.InvalidByReason)
	}
	return nil
}

// startCPUProfile writes this process's CPU profile to path until stop is
// called; an empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// warnLogger logs warnings and errors only: the joins of 256 simulated
// workers would bury bench scale's figures.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// selfCPUSeconds is the user and system time of this process so far, from
// /proc/self/stat (0 where there is none), in clock ticks of 1/100 s.
func selfCPUSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after it. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return (u + s) / 100
}

// steadyMark is when a run's job reached a step.
type steadyMark struct {
	step int // 0 when the run never got there
	at   time.Time
	cpu  machineCPU
}

// steadyWatch polls a driver for the time its job reaches two steps.
type steadyWatch struct {
	done  chan struct{}
	marks chan [2]steadyMark
}

// watchSteady notes the time and the machine's CPU once d's job has
// reached step warm and once it has reached step last (polled every
// millisecond), so a bench can report the rate in between: without the
// run's start (a child process, connections, joins) and its end (the last
// checkpoint, the workers told to stop).
func watchSteady(ctx context.Context, d *coordinator.Driver, warm, last int) *steadyWatch {
	w := &steadyWatch{done: make(chan struct{}), marks: make(chan [2]steadyMark, 1)}
	go func() {
		var m [2]steadyMark
		defer func() { w.marks <- m }()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.done:
				return
			case <-t.C:
			}
			i, want := 0, warm
			if m[0].step > 0 {
				i, want = 1, last
			}
			if st := d.Status(); st.Step >= want {
				m[i] = steadyMark{step: st.Step, at: time.Now(), cpu: readMachineCPU()}
				if i == 1 {
					return
				}
			}
		}
	}()
	return w
}

// stop ends the watch and returns its marks.
func (w *steadyWatch) stop() [2]steadyMark {
	close(w.done)
	return <-w.marks
}

// machineCPU is the machine's CPU time so far from the first line of
// /proc/stat, in clock ticks: busy (user, nice, system, irq, softirq,
// steal) and all (busy, idle and iowait). ok is false where there is none.
type machineCPU struct {
	busy, all float64
	ok        bool
}

// readMachineCPU reads /proc/stat.
func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	return parseMachineCPU(b)
}

// parseMachineCPU parses the "cpu" line of a /proc/stat.
func parseMachineCPU(b []byte) machineCPU {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}
	}
	var v [8]float64 // user nice system idle iowait irq softirq steal
	for i := range v {
		x, err := strconv.ParseFloat(f[i+1], 64)
		if err != nil || x < 0 {
			return machineCPU{}
		}
		v[i] = x
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return machineCPU{busy: busy, all: busy + v[3] + v[4], ok: true}
}

// since is the fraction of the machine's CPU time busy between before and
// c, from 0 to 1; -1 when either reading failed or no time passed.
func (c machineCPU) since(before machineCPU) float64 {
	all := c.all - before.all
	if !c.ok || !before.ok || all <= 0 {
		return -1
	}
	return (c.busy - before.busy) / all
}

// fakeGradients hands out deterministic small gradients of n floats: the
// window of a pool of random values that (step, shard) picks. Making one
// costs nothing, so the simulated workers' process spends its cores on
// NATS and encoding, as the coordinator's real workers would between
// computations.
type fakeGradients struct {
	n    int
	pool params.Vector
}

const fakeOffsets = 1 << 16

func newFakeGradients(n int) *fakeGradients {
	g := &fakeGradients{n: n, pool: make(params.Vector, n+fakeOffsets)}
	x := uint64(0x9e3779b97f4a7c15)
	for i := range g.pool {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		g.pool[i] = float32(int64(x>>40)-(1<<23)) / (1 << 23) * 1e-3
	}
	return g
}

// of returns (step, shard)'s gradient, a window of the pool: read-only.
func (g *fakeGradients) of(step uint64, shard int) params.Vector {
	off := int((step*0x9e3779b97f4a7c15 ^ uint64(shard)*0xbf58476d1ce4e5b9) >> 48 % fakeOffsets)
	return g.pool[off : off+g.n : off+g.n]
}

func runFakeWorkers(c *cli.Context) error {
	if err := positive(c, "workers", "grad-len"); err != nil {
		return err
	}
	if err := nonNegative(c, "state-len"); err != nil {
		return err
	}
	n, gradLen, stateLen := c.Int("workers"), c.Int("grad-len"), c.Int("state-len")
	log := warnLogger(c.App.ErrWriter)
	stop, err := startCPUProfile(c.String("cpuprofile"))
	if err != nil {
		return err
	}
	defer stop()
	grads := newFakeGradients(gradLen)
	stats := make(params.Vector, stateLen)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = worker.Run(c.Context, worker.Config{
				Job: c.String("job"), NATS: c.String("nats"), Name: fmt.Sprintf("fake%02d", i), Logger: log,
				FetchParams: c.Bool("fetch-params"),
				Compute: func(l *wire.Lease) (*wire.Result, error) {
					return &wire.Result{Result: params.Result{Step: int(l.Step), Shard: l.Shard, Version: int(l.Version), Loss: math.Log(2), Count: 1,
						Grads: grads.of(l.Step, l.Shard), Stats: stats}}, nil
				},
			})
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
