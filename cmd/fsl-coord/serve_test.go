package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// The serving coordinator's tests: fsl-coord serve, pool workers (fsl-worker
// without --job), submit, jobs and results, as processes on 127.0.0.1.

// serveJob is the job file of the serve tests: the e2e job's shape, 4
// shards, a short evaluation.
func serveJob(t *testing.T, dir string, steps int) string {
	t.Helper()
	path := filepath.Join(dir, "job.yaml")
	y := fmt.Sprintf("id: sv\nloss: proto\nway: 5\nshot: 1\nquery: 2\nshards: 4\nsteps: %d\nsize: 20\ncheckpoint_every: 10\n"+
		"lease_timeout: 3s\nheartbeat_timeout: 2s\neval:\n  episodes: 40\n", steps)
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveRef is bench train's sha256 of the serve job with lr and seed.
func serveRef(t *testing.T, dir string, steps int, lr string, seed int) string {
	t.Helper()
	d := filepath.Join(dir, fmt.Sprintf("ref-%s-%d", lr, seed))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return benchTrain(t, d, []string{"start", "--loss", "proto", "--way", "5", "--shot", "1", "--query", "2", "--shards", "4",
		"--steps", fmt.Sprint(steps), "--size", "20", "--lr", lr, "--seed", fmt.Sprint(seed)})
}

// startServe starts fsl-coord serve on port with the store in dir.
func startServe(t *testing.T, name, dir string, port int, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--db", filepath.Join(dir, "fsl.db"), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--token", testToken, "--http", "", "--log-level", "info"}, extra...)
	return start(t, name, bins.coord, args...)
}

// poolWorkers starts n fsl-worker processes without --job, named prefix0, ...
func poolWorkers(t *testing.T, url, prefix string, n int) []*proc {
	t.Helper()
	var ws []*proc
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		ws = append(ws, start(t, name, bins.worker, "--nats", url, "--token", testToken, "--name", name, "--log-level", "info"))
	}
	return ws
}

// coordCLI runs fsl-coord args against the serving coordinator at url.
func coordCLI(t *testing.T, dir, url string, args ...string) (string, int) {
	t.Helper()
	return runBinary(t, dir, time.Minute, append(args, "--nats", url, "--token", testToken)...)
}

// queue asks the serving coordinator for its jobs; nil when it does not
// answer.
func queue(nc *transport.Conn) map[string]coordinator.JobInfo {
	cmd, _ := wire.NewCommand(coordinator.JobsRequest{Op: "ls"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := nc.Request(ctx, wire.Serve.Jobs, cmd)
	if err != nil {
		return nil
	}
	var jobs []coordinator.JobInfo
	if wire.DecodeStatus(m, &jobs) != nil {
		return nil
	}
	out := map[string]coordinator.JobInfo{}
	for _, j := range jobs {
		out[j.ID] = j
	}
	return out
}

// waitQueue polls the queue until cond holds, within d.
func waitQueue(t *testing.T, nc *transport.Conn, d time.Duration, what string, cond func(map[string]coordinator.JobInfo) bool) map[string]coordinator.JobInfo {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		q := queue(nc)
		if q != nil && cond(q) {
			return q
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; queue %+v", what, d, q)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allDone(ids ...string) func(map[string]coordinator.JobInfo) bool {
	return func(q map[string]coordinator.JobInfo) bool {
		for _, id := range ids {
			if q[id].State != coordinator.StateDone {
				return false
			}
		}
		return true
	}
}

// TestServeSweepIsExactThroughKills: a sweep of 6 jobs (2 learning rates ×
// 3 seeds) on 3 pool worker processes ends with each job's parameters equal
// to its bench train, though 2 workers are SIGKILLed and restarted and the
// serve process is SIGKILLed and restarted mid-sweep. Each job is
// evaluated, and results groups the seeds.
func TestServeSweepIsExactThroughKills(t *testing.T) {
	build(t)
	dir := t.TempDir()
	const steps = 60
	lrs, seeds := []string{"0.001", "0.0005"}, []int{1, 2, 3}
	ref := map[string]string{} // job ID → sha256
	for i, lr := range lrs {
		for j, seed := range seeds {
			ref[fmt.Sprintf("sw-%02d", i*len(seeds)+j+1)] = serveRef(t, dir, steps, lr, seed)
		}
	}
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	sv := startServe(t, "serve", dir, port)
	obs := observer(t, url)
	waitQueue(t, obs, 30*time.Second, "serve answering", func(map[string]coordinator.JobInfo) bool { return true })
	ws := poolWorkers(t, url, "p", 3)
	job := serveJob(t, dir, steps)
	out, code := coordCLI(t, dir, url, "submit", job, "--seeds", "1,2,3", "--set", "optimizer.lr=1e-3,5e-4", "--name", "sw")
	if code != 0 || strings.Fields(out)[0] != "sw-01" || len(strings.Fields(out)) != 6 {
		t.Fatalf("submit: exit %d:\n%s", code, out)
	}
	// Mid-sweep: two workers SIGKILLed and started again, then the serve
	// process SIGKILLed and started again on the same store.
	waitQueue(t, obs, 2*time.Minute, "a job at step 20", func(q map[string]coordinator.JobInfo) bool {
		for _, j := range q {
			if j.Step >= 20 {
				return true
			}
		}
		return false
	})
	ws[0].kill(t)
	ws[1].kill(t)
	poolWorkers(t, url, "again", 2)
	time.Sleep(time.Second)
	sv.kill(t)
	before := queue(obs)
	if before != nil {
		t.Fatal("the killed serve process still answers")
	}
	sv = startServe(t, "serve again", dir, port)
	q := waitQueue(t, obs, 4*time.Minute, "every job done", allDone(keys(ref)...))
	for id, want := range ref {
		j := q[id]
		if j.Outcome == nil || j.Outcome.ParamsSHA256 != want {
			t.Errorf("job %s (%v): outcome %+v, bench train %s", id, j.Params, j.Outcome, want)
			continue
		}
		if acc := j.Outcome.Metrics["5way1shot_acc"]; !(acc > 0.2 && acc <= 1) {
			t.Errorf("job %s: evaluation %v, want a 5-way 1-shot accuracy", id, j.Outcome.Metrics)
		}
	}
	t.Logf("6 jobs equal their bench train through 2 worker kills and a serve kill")
	// The evaluation ran on the workers (embedding shards); fsl-coord eval
	// of the same checkpoint in one process gives exactly its figures.
	for _, id := range []string{"sw-01", "sw-06"} {
		out, code := coordCLI(t, dir, url, "eval", "--db", filepath.Join(dir, "fsl.db"), "--job", id, "--checkpoint", "latest",
			"--way", "5", "--shot", "1", "--episodes", "40", "--json")
		var ev struct {
			Results []struct {
				Mean float64 `json:"mean"`
				CI95 float64 `json:"ci95"`
			} `json:"results"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &ev) != nil || len(ev.Results) != 1 {
			t.Fatalf("eval %s: exit %d:\n%s", id, code, out)
		}
		m := q[id].Outcome.Metrics
		if m["5way1shot_acc"] != ev.Results[0].Mean || m["5way1shot_ci95"] != ev.Results[0].CI95 {
			t.Errorf("job %s: evaluated on the workers %v, fsl-coord eval %+v", id, m, ev.Results[0])
		}
	}
	out, code = coordCLI(t, dir, url, "results", "--name", "sw", "--json")
	var res struct {
		Groups []coordinator.ResultGroup `json:"groups"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("results: exit %d:\n%s", code, out)
	}
	if len(res.Groups) != 2 || len(res.Groups[0].Jobs) != 3 || res.Groups[0].Metrics["5way1shot_acc"].N != 3 {
		t.Errorf("results groups %+v, want 2 groups of 3 seeds", res.Groups)
	}
	out, code = coordCLI(t, dir, url, "results", "--name", "sw")
	if code != 0 || !strings.Contains(out, "5-way 1-shot accuracy, 40 random episodes") || !strings.Contains(out, " ± ") {
		t.Errorf("results table: exit %d:\n%s", code, out)
	}
	t.Logf("results:\n%s", out)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestServeSharesWorkersFairlyAndByPriority: 3 jobs of equal priority on 4
// pool workers each get a third of the applied shards (±5 points) over the
// middle of their run; a job of higher priority submitted while they run
// gets at least 90% of the shards until it ends.
func TestServeSharesWorkersFairlyAndByPriority(t *testing.T) {
	build(t)
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	httpPort := freePort(t)
	startServe(t, "serve", dir, port, "--quantum", "300ms", "--http", fmt.Sprintf("127.0.0.1:%d", httpPort))
	obs := observer(t, url)
	waitQueue(t, obs, 30*time.Second, "serve answering", func(map[string]coordinator.JobInfo) bool { return true })
	poolWorkers(t, url, "p", 4)
	job := serveJob(t, dir, 100000)
	if out, code := coordCLI(t, dir, url, "submit", job, "--seeds", "1,2,3", "--name", "fair"); code != 0 {
		t.Fatalf("submit: exit %d:\n%s", code, out)
	}
	ids := []string{"fair-01", "fair-02", "fair-03"}
	applied := func(q map[string]coordinator.JobInfo, ids ...string) []int {
		out := make([]int, len(ids))
		for i, id := range ids {
			out[i] = q[id].Applied
		}
		return out
	}
	q0 := waitQueue(t, obs, time.Minute, "three jobs at work", func(q map[string]coordinator.JobInfo) bool {
		for _, id := range ids {
			if q[id].Applied < 20 {
				return false
			}
		}
		return true
	})
	a0 := applied(q0, ids...)
	time.Sleep(12 * time.Second)
	a1 := applied(queue(obs), ids...)
	total := 0
	for i := range ids {
		total += a1[i] - a0[i]
	}
	for i, id := range ids {
		share := 100 * float64(a1[i]-a0[i]) / float64(total)
		t.Logf("%s: %d of %d shards in 12 s, %.1f%%", id, a1[i]-a0[i], total, share)
		if share < 100.0/3-5 || share > 100.0/3+5 {
			t.Errorf("%s got %.1f%% of the shards, want 33.3%% ± 5", id, share)
		}
	}
	// The jobs page lists them, and links each job's dashboard.
	web := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	for path, want := range map[string]string{"/": `href="jobs/fair-02/"`, "/jobs": `"id": "fair-03"`, "/jobs/fair-01/status": `"job":"fair-01"`,
		"/metrics": `fsl_results_applied_total{fsl_job="fair-03"}`} {
		if body, code := httpGet(t, web+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want %q in:\n%.600s", path, code, want, body)
		}
	}
	// The jobs commands over HTTP instead of NATS.
	if out, code := coordCLI(t, dir, url, "jobs", "ls", "--http", web, "--json"); code != 0 || !strings.Contains(out, `"id": "fair-02"`) {
		t.Errorf("jobs ls --http: exit %d:\n%.600s", code, out)
	}
	if out, code := coordCLI(t, dir, url, "jobs", "show", "fair-03", "--http", web); code != 0 || !strings.Contains(out, `"state": "running"`) {
		t.Errorf("jobs show --http: exit %d:\n%.600s", code, out)
	}
	if out, code := coordCLI(t, dir, url, "jobs", "show", "nope", "--http", web); code == 0 || !strings.Contains(out, "404") || !strings.Contains(out, "no such job") {
		t.Errorf("jobs show nope --http: exit %d, want a 404 naming the job:\n%s", code, out)
	}
	// A job of higher priority: from one quantum after its submission to
	// its end, it gets at least 90% of the pool's shards.
	hi := serveJob(t, t.TempDir(), 300)
	if out, code := coordCLI(t, dir, url, "submit", hi, "--priority", "10", "--name", "urgent"); code != 0 {
		t.Fatalf("submit: exit %d:\n%s", code, out)
	}
	time.Sleep(600 * time.Millisecond)
	all := append([]string{"urgent-01"}, ids...)
	b0 := applied(queue(obs), all...)
	var b1 []int
	// Until it ends: its last step applied (then it lingers and is
	// evaluated, and the pool goes back to the others).
	waitQueue(t, obs, 2*time.Minute, "the urgent job done", func(q map[string]coordinator.JobInfo) bool {
		if u := q["urgent-01"]; u.State == coordinator.StateRunning && u.Step < 300 {
			b1 = applied(q, all...)
		}
		return q["urgent-01"].State == coordinator.StateDone
	})
	total = 0
	for i := range all {
		total += b1[i] - b0[i]
	}
	share := 100 * float64(b1[0]-b0[0]) / float64(total)
	t.Logf("urgent-01: %d of %d shards while it ran, %.1f%%", b1[0]-b0[0], total, share)
	if share < 90 {
		t.Errorf("the priority-10 job got %.1f%% of the shards while it ran, want at least 90%%", share)
	}
}

// TestServePauseResumeCancelAndBadInput: a paused job stops (it holds no
// lease: its job no longer answers) and, resumed, ends with its bench train
// parameters; a cancelled job's workers take other work within 5 s; jobs
// ls shows each state; and mistakes are clear errors.
func TestServePauseResumeCancelAndBadInput(t *testing.T) {
	build(t)
	dir := t.TempDir()
	const steps = 120
	ref := serveRef(t, dir, steps, "0.001", 1)
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	startServe(t, "serve", dir, port)
	obs := observer(t, url)
	waitQueue(t, obs, 30*time.Second, "serve answering", func(map[string]coordinator.JobInfo) bool { return true })
	poolWorkers(t, url, "p", 2)
	job := serveJob(t, dir, steps)
	long := serveJob(t, t.TempDir(), 100000)
	if out, code := coordCLI(t, dir, url, "submit", job, "--name", "a"); code != 0 {
		t.Fatalf("submit: exit %d:\n%s", code, out)
	}
	if out, code := coordCLI(t, dir, url, "submit", long, "--name", "b"); code != 0 {
		t.Fatalf("submit: exit %d:\n%s", code, out)
	}
	waitQueue(t, obs, time.Minute, "job a at step 10", func(q map[string]coordinator.JobInfo) bool { return q["a-01"].Step >= 10 })
	if out, code := coordCLI(t, dir, url, "jobs", "pause", "a-01"); code != 0 {
		t.Fatalf("pause: exit %d:\n%s", code, out)
	}
	waitQueue(t, obs, 10*time.Second, "job a paused", func(q map[string]coordinator.JobInfo) bool { return q["a-01"].State == coordinator.StatePaused })
	time.Sleep(3 * time.Second) // one lease timeout
	subj, _ := wire.NewSubjects("a-01")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := obs.Request(ctx, subj.Status, &wire.StatusRequest{})
	cancel()
	if err == nil {
		t.Error("the paused job still answers on its subjects: its driver runs")
	}
	out, code := coordCLI(t, dir, url, "jobs", "ls")
	if code != 0 || !strings.Contains(out, "paused") || !strings.Contains(out, "running") {
		t.Errorf("jobs ls: exit %d, want a paused and a running job:\n%s", code, out)
	}
	if out, code := coordCLI(t, dir, url, "jobs", "resume", "a-01"); code != 0 {
		t.Fatalf("resume: exit %d:\n%s", code, out)
	}
	q := waitQueue(t, obs, 2*time.Minute, "job a done", allDone("a-01"))
	if o := q["a-01"].Outcome; o == nil || o.ParamsSHA256 != ref {
		t.Errorf("paused and resumed job: outcome %+v, bench train %s", o, ref)
	}
	// Cancel b: its workers go to another job within 5 s.
	if out, code := coordCLI(t, dir, url, "submit", long, "--name", "c"); code != 0 {
		t.Fatalf("submit: exit %d:\n%s", code, out)
	}
	waitQueue(t, obs, 30*time.Second, "job c at work", func(q map[string]coordinator.JobInfo) bool { return q["c-01"].Applied > 0 })
	cancelled := time.Now()
	if out, code := coordCLI(t, dir, url, "jobs", "cancel", "b-01"); code != 0 {
		t.Fatalf("cancel: exit %d:\n%s", code, out)
	}
	waitQueue(t, obs, 5*time.Second, "both workers on job c", func(q map[string]coordinator.JobInfo) bool {
		return q["b-01"].State == coordinator.StateCancelled && q["c-01"].Workers == 2
	})
	t.Logf("the cancelled job's workers took other work %v after the cancel", time.Since(cancelled).Round(time.Millisecond))
	out, code = coordCLI(t, dir, url, "jobs", "ls")
	for _, state := range []string{"done", "cancelled", "running"} {
		if code != 0 || !strings.Contains(out, state) {
			t.Errorf("jobs ls: exit %d, no %s job:\n%s", code, state, out)
		}
	}

	// Mistakes, each a clear error naming what is wrong.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("id: x\nwayy: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"a spec with a bad field", []string{"submit", bad}, "wayy"},
		{"a bad field value", []string{"submit", job, "--set", "way=-1"}, "way"},
		{"an unknown job", []string{"jobs", "show", "nope"}, `job "nope": no such job`},
		{"cancelling twice", []string{"jobs", "cancel", "b-01"}, `cancel job "b-01": it is cancelled`},
		{"pausing a finished job", []string{"jobs", "pause", "a-01"}, `pause job "a-01": it is done`},
		{"a sweep that does not parse", []string{"submit", job, "--set", "optimizer.lr"}, "--set"},
		{"an unknown sweep key", []string{"submit", job, "--set", "lr=1,2"}, "optimizer.lr"},
		{"a job ID already queued", []string{"submit", job, "--name", "a"}, "already"},
	} {
		out, code := coordCLI(t, dir, url, tt.args...)
		if code == 0 || !strings.Contains(out, tt.want) {
			t.Errorf("%s: exit %d, want an error naming %q:\n%s", tt.name, code, tt.want, out)
		}
	}
	// A worker pinned to a job the coordinator does not have says so and
	// exits, instead of waiting for --give-up-after.
	w := start(t, "pinned", bins.worker, "--nats", url, "--token", testToken, "--job", "nope", "--name", "pinned")
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a worker pinned to an unknown job still waits after 30 s")
	}
	var exit *exec.ExitError
	if !errors.As(w.err, &exit) || exit.ExitCode() != 3 || !strings.Contains(w.out.String(), `job "nope": no such job`) {
		t.Errorf("pinned worker on an unknown job: %v, want exit status 3 (as --give-up-after: Kubernetes fails the Job)\n%s", w.err, w.out.String())
	}
}

func httpGet(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b), resp.StatusCode
}
