package cli

import (
	"bytes"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
)

func TestVersionNamesTheBuild(t *testing.T) {
	old := Version
	Version = "v9.8.7-test"
	defer func() { Version = old }()
	for _, app := range []string{"fsl-coord", "fsl-worker"} {
		t.Run(app, func(t *testing.T) {
			var out string
			var err error
			if app == "fsl-coord" {
				out, err = runCoord(t, "--version")
			} else {
				w := NewWorkerApp()
				var b bytes.Buffer
				w.Writer, w.ErrWriter = &b, &b
				err = Run(t.Context(), w, []string{"fsl-worker", "--version"})
				out = b.String()
			}
			if code := exitStatus(&strings.Builder{}, app, err); code != 0 {
				t.Fatalf("exit status %d (%v)", code, err)
			}
			for _, want := range []string{app + " v9.8.7-test\n", "  revision  ", "  go        " + runtime.Version(), "  compute   cpu " + runtime.GOARCH + " kernels=", "blas=", "  cuda      "} {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in:\n%s", want, out)
				}
			}
		})
	}
}

func TestOpenBLASMissingIsOneWarning(t *testing.T) {
	for _, tc := range []struct {
		blas  string
		lines int
	}{{"openblas", 0}, {"gonum", 1}} {
		var b bytes.Buffer
		noteBLASNamed(slog.New(slog.NewTextHandler(&b, nil)), tc.blas)
		if n := strings.Count(b.String(), "\n"); n != tc.lines || tc.lines == 1 && !strings.Contains(b.String(), "5× slower") {
			t.Errorf("BLAS %s: %q, want %d line(s)", tc.blas, b.String(), tc.lines)
		}
	}
}

func TestETAAfterAResumeCountsThisProcessesSteps(t *testing.T) {
	tests := []struct {
		name      string
		first, at int
		elapsed   time.Duration
		wantETA   string
	}{
		{"new job", 1, 100, 10 * time.Second, "ETA 30s"},            // 100 steps in 10s, 300 left
		{"resumed at 300", 301, 310, 10 * time.Second, "ETA 1m30s"}, // 10 steps in 10s, 90 left
		{"resumed, first step", 301, 301, time.Second, "ETA 1m39s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &progressLine{w: &bytes.Buffer{}}
			p.step(coordinator.Progress{Step: tc.first, Steps: 400, Elapsed: time.Millisecond})
			got := formatProgress(coordinator.Progress{Step: tc.at, Steps: 400, Images: 60 * (tc.at - tc.first + 1), Elapsed: tc.elapsed}, p.from)
			if !strings.HasSuffix(got, tc.wantETA) {
				t.Errorf("%q, want it to end %q", got, tc.wantETA)
			}
		})
	}
}
