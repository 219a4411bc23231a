package cli

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestWorkerMetricsFlag: --metrics serves the worker's metrics and a
// probe; an address it cannot listen on fails naming the flag; no address
// serves nothing.
func TestWorkerMetricsFlag(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m, _, stop, err := serveWorkerMetrics("", log)
	if m != nil || err != nil {
		t.Fatalf("no --metrics: %v, %v; want nothing served", m, err)
	}
	stop()
	if _, _, _, err := serveWorkerMetrics("127.0.0.1:-5", log); err == nil || !strings.Contains(err.Error(), "--metrics 127.0.0.1:-5") {
		t.Errorf("bad --metrics: %v, want an error naming the flag", err)
	}
	m, url, stop, err := serveWorkerMetrics("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if m == nil {
		t.Fatal("--metrics set but no metrics to count into")
	}
	code, body := getBody(t, url)
	if code != http.StatusOK || !strings.Contains(body, "# TYPE fsl_worker_shards_computed_total counter") || !strings.Contains(body, "fsl_build_info{") {
		t.Errorf("GET %s: HTTP %d:\n%s", url, code, body)
	}
	if code, body := getBody(t, strings.TrimSuffix(url, "/metrics")+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: HTTP %d %q", code, body)
	}
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
