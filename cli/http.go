package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
)

// logFormatFlag is --log-format, shared by both binaries (newLogger reads
// it).
func logFormatFlag() cli.Flag {
	return &cli.StringFlag{Name: "log-format", Value: "text", Usage: "log lines as text (logfmt) or json"}
}

// serveMonitor starts the coordinator's HTTP server on --http for job: the
// dashboard, /metrics, /status, /history, /healthz and /readyz (the ones but
// /metrics and the probes guarded by --http-token when set; pprof with
// --pprof). It returns a
// nil monitor when --http is "". When --http was left at its default and the
// port is taken (another coordinator on this host), it warns and goes on
// without; an address given explicitly must work. stop shuts the server
// down, waiting up to 2 s for requests in flight.
func serveMonitor(c *cli.Context, job string, log *slog.Logger) (mon *coordinator.Monitor, stop func(), err error) {
	addr := c.String("http")
	if addr == "" {
		return nil, func() {}, nil
	}
	opts := []coordinator.MonitorOption{coordinator.WithBearerToken(c.String("http-token")), coordinator.WithStore(c.String("db"))}
	if c.Bool("pprof") {
		opts = append(opts, coordinator.WithPprof())
	}
	mon = coordinator.NewMonitor(job, opts...)
	srv, err := coordinator.ListenHTTP(addr, mon.Handler(), log)
	if err != nil {
		if !c.IsSet("http") {
			log.Warn("no dashboard: default --http address unavailable", "err", err)
			fmt.Fprintf(c.App.ErrWriter, "fsl-coord: no dashboard: %v (choose another with --http, or --http \"\")\n", err)
			return nil, func() {}, nil
		}
		return nil, nil, fmt.Errorf("--http: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "dashboard at %s/ (metrics at /metrics)\n", srv.URL())
	return mon, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}, nil
}

// runDriver runs the job with its history recorded
// (coordinator.RunRecorded), telling mon (when not nil) of its events after
// cfg.Observer and attaching its status as soon as the driver exists.
func runDriver(ctx context.Context, mon *coordinator.Monitor, cfg coordinator.DriverConfig) (*coordinator.Summary, error) {
	// Only when set: a nil *Monitor in the interface would not be nil.
	if mon == nil {
		return coordinator.RunRecorded(ctx, cfg, nil)
	}
	if cfg.Observer != nil {
		cfg.Observer = coordinator.Observers{cfg.Observer, mon}
	} else {
		cfg.Observer = mon
	}
	return coordinator.RunRecorded(ctx, cfg, func(d *coordinator.Driver) { mon.Attach(d.Status) })
}
