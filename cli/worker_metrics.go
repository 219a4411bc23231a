package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/fsl-project/fsl/worker"
)

// serveWorkerMetrics serves a worker's metrics on addr ("host:port";
// --metrics) under /metrics, with /healthz for probes, until stop is
// called, and says where (the real port when addr's is 0). An empty addr
// serves nothing: a nil m (no counting) and a no-op stop.
func serveWorkerMetrics(addr string, log *slog.Logger) (m *worker.Metrics, url string, stop func(), err error) {
	if addr == "" {
		return nil, "", func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	m = worker.NewMetrics()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "addr", addr, "err", err)
		}
	}()
	url = "http://" + ln.Addr().String() + "/metrics"
	log.Info("serving metrics", "url", url)
	return m, url, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // exiting anyway
	}, nil
}
