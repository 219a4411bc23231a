package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run a queue of jobs on one pool of workers: fsl-coord submit adds jobs, fsl-worker without --job works for them",
		Description: "A long-running coordinator: embedded NATS unless --nats, one store (--db) for the queue and every\n" +
			"job's checkpoints, and the dashboard with a jobs page. At most --max-running jobs run at once; the\n" +
			"rest wait, highest priority first, then first in, first out. Workers started without --job ask which\n" +
			"job to work for: between priorities the higher always first; within a priority each running job gets\n" +
			"workers in proportion to its weight, reassigned every --quantum. A job's parameters are bit for bit\n" +
			"those of the same job run alone. When a job ends, its workers evaluate it (its spec's eval: block;\n" +
			"the figures of fsl-coord eval on its last checkpoint), and fsl-coord results tabulates the figures.\n" +
			"Everything is in the store: after SIGKILL, run the same command and every running job resumes from\n" +
			"its newest checkpoint. SIGINT or SIGTERM checkpoints the running jobs and exits with 130 or 143.\n\n" +
			"Examples:\n" +
			"   fsl-coord serve --local-workers 2                       # a queue on this machine\n" +
			"   fsl-coord submit job.yaml --seeds 1,2,3                 # three jobs into it\n" +
			"   fsl-coord serve --listen 0.0.0.0:4222 --auth auth --http 0.0.0.0:8080   # workers elsewhere: fsl-worker",
		Flags: append([]cli.Flag{
			dbFlag("store of the queue and of every job's checkpoints (bbolt file)"),
			natsFlag("", "use this NATS server instead of the embedded one (nats://host:4222)"),
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4222", Usage: "embedded NATS server address (port 0: any free port); off loopback it needs --token, --auth, client certificates or --insecure"},
			tokenFlag("shared token clients must present (with --nats: the token this process presents)"),
			credsFlag(),
			authFlag,
			&cli.IntFlag{Name: "max-running", Value: coordinator.DefaultMaxRunning, Usage: "jobs that run at once; the rest wait in the queue"},
			&cli.DurationFlag{Name: "quantum", Value: coordinator.DefaultQuantum, Usage: "how long a worker works for one job before it is assigned again (the grain of fair share)"},
			&cli.IntFlag{Name: "local-workers", Usage: "run this many workers (for any job) inside this process"},
			&cli.IntFlag{Name: "threads", Usage: "compute threads per local worker; 0: all cores (results do not depend on it)"},
			&cli.IntFlag{Name: "val-episodes", Value: 100, Usage: "5-way 1-shot episodes per validation of a job with eval_every"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			logFormatFlag(),
			&cli.StringFlag{Name: "http", Value: "127.0.0.1:8080", Usage: "serve the jobs page, each job's dashboard (/jobs/ID/), /jobs (JSON), /api/jobs and /api/admin (fsl-coord jobs, submit and results --http), /healthz and /readyz on this address (\"\": off)"},
			httpTokenFlag("bearer token the HTTP server requires on all but /healthz and /readyz"),
			insecureFlag(),
		}, tlsStartFlags()...),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	gcForCompute()
	if c.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q (fsl-coord submit JOB.yaml adds jobs)", c.Args().Slice())
	}
	tlsCfg, err := serverTLS(c)
	if err != nil {
		return err
	}
	if err := nonNegative(c, "local-workers", "threads"); err != nil {
		return err
	}
	// 0 would leave every job with eval_every unvalidated, its patience
	// idle; a job turns its own validation off with eval_every 0.
	if err := positive(c, "val-episodes"); err != nil {
		return fmt.Errorf("%w (episodes per validation of a job with eval_every; a job validates never with eval_every 0)", err)
	}
	if err := positive(c, "max-running"); err != nil {
		return err
	}
	if err := positiveDuration(c, "quantum"); err != nil {
		return err
	}
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	out, db := c.App.Writer, c.String("db")
	noteBLAS(log)
	ctx, interrupted, stop := notifyInterrupt(c.Context)
	defer stop()
	tr, err := openNATS(c, "fsl-coord serve", tlsCfg, log)
	if err != nil {
		return err
	}
	defer tr.close()
	if tr.embedded {
		fmt.Fprintf(out, "embedded NATS at %s\n", tr.url)
	}
	pages := newJobPages(log)
	valEpisodes := c.Int("val-episodes")
	srv, err := coordinator.NewServer(coordinator.ServerConfig{
		DB: db, Conn: tr.nc, Logger: log, MaxRunning: c.Int("max-running"), Quantum: c.Duration("quantum"),
		Validator: func(spec coordinator.JobSpec) (func(int, params.Vector, params.Vector) (map[string]float64, error), error) {
			return newValidator(spec, valEpisodes)
		},
		EvalWork: evalWork,
		Observer: pages.observer,
		Started:  pages.started,
	})
	if err != nil {
		return err
	}
	if addr := c.String("http"); addr != "" {
		hs, err := coordinator.ListenHTTP(addr, pages.handler(srv, c.String("http-token")), log)
		if err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			hs.Shutdown(sctx) //nolint:errcheck // exiting
		}()
		fmt.Fprintf(out, "jobs page at %s/\n", hs.URL())
	}
	var wg sync.WaitGroup
	wctx, cancelWorkers := context.WithCancel(context.Background())
	defer func() { cancelWorkers(); wg.Wait() }()
	if n := c.Int("local-workers"); n > 0 {
		threads := c.Int("threads")
		if threads < 1 {
			threads = runtime.GOMAXPROCS(0)
		}
		if err := startLocalWorkers(wctx, &wg, n, threads, "", tr.url, tr.workerConn(c, log)); err != nil {
			return err
		}
	}
	jobs := srv.Jobs()
	fmt.Fprintf(out, "serving the queue of %s (%d jobs): fsl-coord submit JOB.yaml adds one, fsl-coord jobs ls lists them\n", db, len(jobs))
	err = srv.Run(ctx)
	cancelWorkers()
	wg.Wait()
	if sig := interrupted(); sig != nil {
		fmt.Fprintf(c.App.ErrWriter, "stopped by %s: the running jobs wrote checkpoints; run the same command again to resume them\n", signalName(sig))
		return cli.Exit("", exitCodeOf(sig))
	}
	return err
}

// evalWork is the evaluation of spec's eval: block, run on the workers
// when the job ends (eval.Work on its test split): the figures of fsl-coord
// eval on the same checkpoint.
func evalWork(spec coordinator.JobSpec) func(int, params.Vector, params.Vector) (coordinator.EvalWork, error) {
	return func(_ int, p, st params.Vector) (coordinator.EvalWork, error) {
		e := spec.Eval.WithDefaults()
		test, err := episodes.Open(spec.Dataset, spec.SplitOptions(spec.TestSplit))
		if err != nil {
			return nil, fmt.Errorf("held-out classes: %w", err)
		}
		m, err := model.New(spec.ModelConfig())
		if err != nil {
			return nil, err
		}
		var cfgs []eval.EpisodeConfig
		for _, way := range e.Way {
			for _, shot := range e.Shot {
				cfgs = append(cfgs, eval.EpisodeConfig{Way: way, Shot: shot, Query: e.Query, Episodes: e.Episodes, Seed: e.Seed})
			}
		}
		return eval.NewWork(eval.Net{Model: m, Params: p, State: st}, test, cfgs)
	}
}

// jobPages are the serving coordinator's HTTP pages: the jobs page and a
// dashboard (coordinator.Monitor) per job that has run in this process.
type jobPages struct {
	mu      sync.Mutex
	mons    map[string]*coordinator.Monitor
	metrics *coordinator.MetricsSet // /metrics: every job's, and the runtime's once
	log     *slog.Logger
}

func newJobPages(log *slog.Logger) *jobPages {
	return &jobPages{mons: map[string]*coordinator.Monitor{}, metrics: coordinator.NewMetricsSet(), log: log}
}

func (p *jobPages) monitor(id string) *coordinator.Monitor {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.mons[id]
	if m == nil {
		m = coordinator.NewMonitor(id, coordinator.WithoutRuntimeMetrics())
		p.mons[id] = m
		if err := p.metrics.Add(m); err != nil {
			p.log.Warn("job left out of /metrics", "job", id, "err", err)
		}
	}
	return m
}

func (p *jobPages) observer(spec coordinator.JobSpec) coordinator.Observer { return p.monitor(spec.ID) }

func (p *jobPages) started(id string, d *coordinator.Driver) { p.monitor(id).Attach(d.Status) }

var jobsPage = template.Must(template.New("jobs").Funcs(template.FuncMap{
	"pct": func(a, b int) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fsl jobs</title><meta http-equiv="refresh" content="2">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.running{color:#0a0}.failed{color:#c00}.paused,.queued{color:#888}</style></head>
<body><h1>fsl jobs</h1>
<table><tr><th>job</th><th>sweep</th><th>state</th><th>priority</th><th>progress</th><th>workers</th><th>shards applied</th><th>share</th><th>outcome</th></tr>
{{range .Jobs}}<tr><td><a href="jobs/{{.ID}}/">{{.ID}}</a></td><td>{{.Name}}</td><td class="{{.State}}">{{.State}}</td><td class="n">{{.Priority}}</td>
<td class="n">{{.Step}} / {{.Steps}} ({{pct .Step .Steps}})</td><td class="n">{{.Workers}}</td><td class="n">{{.Applied}}</td><td class="n">{{pct .Applied $.Applied}}</td>
<td>{{with .Outcome}}{{range $k, $v := .Metrics}}{{$k}} {{printf "%.4f" $v}} {{end}}{{end}}{{.Error}}</td></tr>
{{end}}</table>
<p><a href="jobs">/jobs</a> (JSON) · fsl-coord jobs ls · fsl-coord results</p></body></html>
`))

// handler serves /, /jobs (JSON), /jobs/ID/... (that job's dashboard),
// and, open like the probes, /metrics (every job that ran in this process,
// by its fsl_job label), /healthz and /readyz.
func (p *jobPages) handler(srv *coordinator.Server, token string) http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok) // the queue is loaded before the HTTP server starts
	mux.Handle("GET /metrics", p.metrics.Handler())
	auth := http.NewServeMux()
	auth.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		jobs := srv.Jobs()
		applied := 0
		for _, j := range jobs {
			applied += j.Applied
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		jobsPage.Execute(w, struct { //nolint:errcheck // the client went away
			Jobs    []coordinator.JobInfo
			Applied int
		}{jobs, applied})
	})
	auth.HandleFunc("GET /jobs", func(w http.ResponseWriter, _ *http.Request) { writeJSONTo(w, srv.Jobs()) })
	// fsl-coord jobs, submit and results --http: the requests of the NATS
	// subjects (wire.Serve.Jobs, .Admin) as JSON bodies.
	auth.HandleFunc("POST /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		var req coordinator.JobsRequest
		if decodeBody(w, r, &req) {
			writeOutcome(w, func() (any, error) { return srv.Query(req) })
		}
	})
	auth.HandleFunc("POST /api/admin", func(w http.ResponseWriter, r *http.Request) {
		var req coordinator.AdminRequest
		if decodeBody(w, r, &req) {
			writeOutcome(w, func() (any, error) { return srv.Admin(req) })
		}
	})
	auth.HandleFunc("/jobs/{id}/", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		p.mu.Lock()
		m := p.mons[id]
		p.mu.Unlock()
		if m == nil {
			http.Error(w, fmt.Sprintf("job %q has not run in this process (fsl-coord jobs show %s)", id, id), http.StatusNotFound)
			return
		}
		http.StripPrefix("/jobs/"+id, m.Handler()).ServeHTTP(w, r)
	})
	mux.Handle("/", coordinator.RequireBearer(token, auth))
	return mux
}

// decodeBody reads a request's JSON body (at most 64 MiB) into v, or
// answers 400 and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(v); err != nil {
		http.Error(w, "request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// writeOutcome answers with what f returns: 200 and JSON, 404 for an
// unknown job, 400 for any other error.
func writeOutcome(w http.ResponseWriter, f func() (any, error)) {
	v, err := f()
	switch {
	case errors.Is(err, coordinator.ErrUnknownJob):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		writeJSONTo(w, v)
	}
}

// writeJSONTo answers an HTTP request with v as indented JSON.
func writeJSONTo(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b) //nolint:errcheck // the client went away
}
