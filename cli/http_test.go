package cli

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
)

// withMonitor runs serveMonitor under a --http flag like start's and hands
// its results to check before stopping the server.
func withMonitor(t *testing.T, args []string, check func(mon *coordinator.Monitor, err error, out, errOut string)) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &cli.App{
		Name:   "fsl-coord",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "http", Value: "127.0.0.1:8080"}, &cli.StringFlag{Name: "http-token"}, &cli.BoolFlag{Name: "pprof"}},
		Writer: &out, ErrWriter: &errOut,
		Action: func(c *cli.Context) error {
			mon, stop, err := serveMonitor(c, "j", slog.New(slog.NewTextHandler(io.Discard, nil)))
			check(mon, err, out.String(), errOut.String())
			if stop != nil {
				stop()
			}
			return nil
		},
	}
	if err := app.Run(append([]string{"fsl-coord"}, args...)); err != nil {
		t.Fatal(err)
	}
}

func TestServeMonitor(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// Hold the default port too, when it is free, so the fallback is seen
	// whoever else runs on this host.
	if l, err := net.Listen("tcp", "127.0.0.1:8080"); err == nil {
		defer l.Close()
	}

	t.Run("explicit address serves the monitor", func(t *testing.T) {
		withMonitor(t, []string{"--http", "127.0.0.1:0"}, func(mon *coordinator.Monitor, err error, out, _ string) {
			if err != nil || mon == nil {
				t.Fatalf("serveMonitor = %v, %v", mon, err)
			}
			url := strings.TrimSuffix(strings.Fields(out)[2], "/")
			resp, err := http.Get(url + "/healthz")
			if err != nil {
				t.Fatalf("GET %s/healthz (from %q): %v", url, out, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /healthz = %d", resp.StatusCode)
			}
		})
	})
	t.Run("empty address turns it off", func(t *testing.T) {
		withMonitor(t, []string{"--http", ""}, func(mon *coordinator.Monitor, err error, out, _ string) {
			if err != nil || mon != nil || out != "" {
				t.Errorf("serveMonitor(--http \"\") = %v, %v, printed %q; want nothing", mon, err, out)
			}
		})
	})
	t.Run("explicit busy address is an error", func(t *testing.T) {
		withMonitor(t, []string{"--http", busy.Addr().String()}, func(mon *coordinator.Monitor, err error, _, _ string) {
			if err == nil || !strings.Contains(err.Error(), "--http") || !strings.Contains(err.Error(), busy.Addr().String()) {
				t.Errorf("serveMonitor(busy) = %v, %v; want an error naming --http and the address", mon, err)
			}
		})
	})
	t.Run("busy default only warns", func(t *testing.T) {
		withMonitor(t, nil, func(mon *coordinator.Monitor, err error, _, errOut string) {
			if err != nil || mon != nil || !strings.Contains(errOut, "no dashboard") {
				t.Errorf("serveMonitor(default busy) = %v, %v, stderr %q; want a warning and no monitor", mon, err, errOut)
			}
		})
	})
}

func TestMonitorFlagsPprofAndToken(t *testing.T) {
	get := func(url, token string) int {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	base := func(out string) string { return strings.TrimSuffix(strings.Fields(out)[2], "/") }
	withMonitor(t, []string{"--http", "127.0.0.1:0"}, func(_ *coordinator.Monitor, err error, out, _ string) {
		if err != nil {
			t.Fatal(err)
		}
		if code := get(base(out)+"/debug/pprof/", ""); code != http.StatusNotFound {
			t.Errorf("pprof without --pprof = %d, want 404", code)
		}
	})
	withMonitor(t, []string{"--http", "127.0.0.1:0", "--pprof", "--http-token", "h7"}, func(mon *coordinator.Monitor, err error, out, _ string) {
		if err != nil {
			t.Fatal(err)
		}
		mon.Attach(func() coordinator.JobStatus { return coordinator.JobStatus{Job: "j", Steps: 3} })
		u := base(out)
		for path, want := range map[string][2]int{ // without, with the token
			"/debug/pprof/": {401, 200}, "/status": {401, 200}, "/": {401, 200}, "/metrics": {200, 200}, "/healthz": {200, 200},
		} {
			if code := get(u+path, ""); code != want[0] {
				t.Errorf("GET %s without the token = %d, want %d", path, code, want[0])
			}
			if code := get(u+path, "h7"); code != want[1] {
				t.Errorf("GET %s with the token = %d, want %d", path, code, want[1])
			}
		}
		if _, err := runCoord(t, "status", "--http", u); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("status --http without --http-token: %v, want a 401", err)
		}
		if out, err := runCoord(t, "status", "--http", u, "--http-token", "h7"); err != nil || !strings.Contains(out, "0/3") {
			t.Errorf("status --http --http-token: %v\n%s", err, out)
		}
	})
}
