package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// sampleStatus is a job mid-run with two workers and some faults.
func sampleStatus(now time.Time) coordinator.JobStatus {
	return coordinator.JobStatus{
		Job: "j7", Step: 30, Steps: 120, Loss: 1.25, Images: 9000, Elapsed: 30,
		Validation: map[string]float64{"val_acc": 0.625},
		Status: machine.Status{
			Phase: machine.PhaseRunning,
			Workers: []machine.WorkerStatus{
				{ID: "gpu-a", Joined: now.Add(-time.Minute), LastSeen: now.Add(-1500 * time.Millisecond), Shards: []int{1, 3},
					Tally: machine.WorkerTally{Leased: 41, Accepted: 38, Expired: 2, Invalid: 3}},
				{ID: "gpu-b", Joined: now.Add(-time.Minute), LastSeen: now, Shards: []int{}},
			},
			Counters: machine.Counters{Leased: 64, Expired: 2, Duplicates: 1, Applied: 60, InvalidTotal: 3,
				Invalid: map[machine.Reason]int{machine.ReasonNotFinite: 3}, WorkersJoined: 2},
		},
	}
}

// fakeCoordinator answers the status subject of job j7 like the driver.
func fakeCoordinator(t *testing.T, st coordinator.JobStatus) (url string) {
	t.Helper()
	srv, err := transport.StartServer(transport.ServerOptions{Port: 0, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Token: "s3cret", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subj, err := wire.NewSubjects(st.Job)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	_, err = nc.Subscribe(subj.Status, func(m wire.Message, reply string) {
		if _, ok := m.(*wire.StatusRequest); ok {
			if err := nc.Send(reply, &wire.Status{Body: body}); err != nil {
				t.Errorf("reply: %v", err)
			}
		}
	}, transport.SubscribeOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL()
}

func TestStatusOverNATSPrintsTheCoordinatorsAnswer(t *testing.T) {
	st := sampleStatus(time.Now())
	url := fakeCoordinator(t, st)

	out, err := runCoord(t, "status", "--nats", url, "--token", "s3cret", "--job", "j7")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, want := range []string{"j7 (running)", "30/120 (25%)", "1.2500", "9000 in 30s (300 images/s)", "val_acc 0.6250",
		"leased 64", "expired 2", "duplicates 1", "invalid 3 (non-finite value 3)", "gpu-b",
		"LEASES  ACCEPTED  EXPIRED  INVALID"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	if !regexp.MustCompile(`(?m)^gpu-a .* 1,3 +41 +38 +2 +3$`).MatchString(out) {
		t.Errorf("gpu-a's row lacks its shards and tally (41 leases, 38 accepted, 2 expired, 3 invalid):\n%s", out)
	}

	out, err = runCoord(t, "status", "--nats", url, "--token", "s3cret", "--job", "j7", "--json")
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var got coordinator.JobStatus
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status --json is not a JobStatus: %v\n%s", err, out)
	}
	if got.Step != st.Step || got.Status.Counters.Leased != 64 || len(got.Status.Workers) != 2 || got.Validation["val_acc"] != 0.625 {
		t.Errorf("status --json = %+v", got)
	}
	for _, want := range []string{`"phase": "running"`, `"invalid": {`, `"non_finite_value": 3`, `"last_seen": "`} {
		if !strings.Contains(out, want) {
			t.Errorf("status --json lacks %s:\n%s", want, out)
		}
	}
}

func TestStatusOverHTTPReadsTheMonitor(t *testing.T) {
	st := sampleStatus(time.Now())
	mon := coordinator.NewMonitor(st.Job, coordinator.WithoutRuntimeMetrics())
	mon.Attach(func() coordinator.JobStatus { return st })
	srv := httptest.NewServer(mon.Handler())
	defer srv.Close()

	for _, base := range []string{srv.URL, strings.TrimPrefix(srv.URL, "http://") + "/"} {
		out, err := runCoord(t, "status", "--http", base, "--json")
		if err != nil {
			t.Fatalf("status --http %s: %v", base, err)
		}
		var got coordinator.JobStatus
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Job != "j7" || got.Images != 9000 {
			t.Errorf("status --http %s --json = %q (%v)", base, out, err)
		}
	}
}

func TestStatusErrorsNameWhatToCheck(t *testing.T) {
	url := fakeCoordinator(t, sampleStatus(time.Now()))
	mon := coordinator.NewMonitor("j7", coordinator.WithoutRuntimeMetrics()) // never attached: 503
	srv := httptest.NewServer(mon.Handler())
	defer srv.Close()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong job times out", []string{"--nats", url, "--token", "s3cret", "--job", "other", "--timeout", "300ms"}, `job "other"`},
		{"bad token", []string{"--nats", url, "--token", "wrong", "--job", "j7"}, "--nats " + url},
		{"coordinator still starting", []string{"--http", srv.URL}, "503"},
		{"bad job id", []string{"--nats", url, "--job", "a.b*"}, "--job"},
		{"stray argument", []string{"j7"}, "no arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCoord(t, append([]string{"status"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("status %v = %v, want an error mentioning %q", c.args, err, c.want)
			}
		})
	}
}

func TestPrintStatusOfAFinishedJobWithoutWorkers(t *testing.T) {
	var buf bytes.Buffer
	st := coordinator.JobStatus{Job: "j", Step: 5, Steps: 5, Done: true, Status: machine.Status{Phase: machine.PhaseDone}}
	if err := printStatus(&buf, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "j (done)") || !strings.Contains(out, "5/5 (100%)") || strings.Contains(out, "WORKER") {
		t.Errorf("finished job prints:\n%s", out)
	}
	if strings.Contains(out, "compute class") {
		t.Errorf("a job no worker joined prints a compute class:\n%s", out)
	}
}

// TestPrintStatusShowsTheComputeClassStartTakes: the canary a job's
// workers share is printed whole, as --compute-class takes it.
func TestPrintStatusShowsTheComputeClassStartTakes(t *testing.T) {
	var buf bytes.Buffer
	st := coordinator.JobStatus{Job: "j", Step: 1, Steps: 5, ComputeCanary: "3ff4a0a19208deadbeef", ComputeClass: "cpu amd64 blas=openblas/Haswell",
		Status: machine.Status{Phase: machine.PhaseRunning}}
	if err := printStatus(&buf, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !regexp.MustCompile(`compute class +3ff4a0a19208deadbeef \(cpu amd64 blas=openblas/Haswell\)`).MatchString(out) {
		t.Errorf("status prints:\n%s", out)
	}
}
