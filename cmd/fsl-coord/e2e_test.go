package main

// Multi-process tests: the built fsl-coord and fsl-worker binaries against a
// real NATS server on 127.0.0.1, with SIGKILL and SIGSTOP for the faults.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

var bins struct {
	once              sync.Once
	dir               string
	coord, worker, ns string
	err               error
}

// build compiles the binaries once per test process.
func build(t *testing.T) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "fsl-e2e-bin-")
		if bins.err != nil {
			return
		}
		bins.coord = filepath.Join(bins.dir, "fsl-coord")
		bins.worker = filepath.Join(bins.dir, "fsl-worker")
		bins.ns = filepath.Join(bins.dir, "nats-server")
		for out, pkg := range map[string]string{
			bins.coord:  "github.com/fsl-project/fsl/cmd/fsl-coord",
			bins.worker: "github.com/fsl-project/fsl/cmd/fsl-worker",
			bins.ns:     "github.com/nats-io/nats-server/v2",
		} {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// proc is a started binary whose output is kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	return startEnv(t, name, nil, bin, args...)
}

// startEnv is start with env added to this process's environment.
func startEnv(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGCONT) //nolint:errcheck // may be gone
		p.cmd.Process.Kill()                  //nolint:errcheck // may be gone
		<-p.done
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

// wait waits for the process to exit by itself and checks its status.
func (p *proc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const (
	testJob   = "e2e"
	testToken = "s3cret-e2e"
	testSteps = 30
	testShard = 8
)

// jobArgs is the job every scenario runs: fixed seed, 30 steps, 8 shards.
func jobArgs(db, summary string) []string {
	return []string{"start", "--job", testJob, "--loss", "proto", "--way", "5", "--shot", "1", "--query", "2",
		"--shards", strconv.Itoa(testShard), "--steps", strconv.Itoa(testSteps), "--seed", "7", "--size", "20",
		"--checkpoint-every", "4", "--lease-timeout", "3s", "--heartbeat-timeout", "2s",
		"--db", db, "--summary", summary, "--token", testToken, "--eval-episodes", "0", "--quiet", "--log-level", "info"}
}

func workerArgs(url, name string) []string {
	return []string{"--nats", url, "--token", testToken, "--job", testJob, "--name", name, "--log-level", "info"}
}

// workers starts n fsl-worker processes named w0, w1, ...
func workers(t *testing.T, url string, n int) []*proc {
	t.Helper()
	var ws []*proc
	for i := 0; i < n; i++ {
		ws = append(ws, start(t, fmt.Sprintf("worker%d", i), bins.worker, workerArgs(url, fmt.Sprintf("w%d", i))...))
	}
	return ws
}

// step asks the coordinator for its current step over the status subject;
// -1 when it does not answer.
func step(nc *transport.Conn) int {
	subj, _ := wire.NewSubjects(testJob)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	m, err := nc.Request(ctx, subj.Status, &wire.StatusRequest{})
	if err != nil {
		return -1
	}
	var st coordinator.JobStatus
	if s, ok := m.(*wire.Status); !ok || json.Unmarshal(s.Body, &st) != nil {
		return -1
	}
	return st.Step
}

// waitStep blocks until the coordinator reports at least step min.
func waitStep(t *testing.T, nc *transport.Conn, min int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if s := step(nc); s >= min {
			if s >= testSteps {
				t.Fatalf("job finished before step %d could be acted on", min)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("coordinator never reached step %d", min)
}

// waitHolding blocks until the worker whose ID starts with prefix holds a
// lease, so a kill lands mid-shard.
func waitHolding(t *testing.T, nc *transport.Conn, prefix string) {
	t.Helper()
	subj, _ := wire.NewSubjects(testJob)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		m, err := nc.Request(ctx, subj.Status, &wire.StatusRequest{})
		cancel()
		var st coordinator.JobStatus
		if s, ok := m.(*wire.Status); err == nil && ok && json.Unmarshal(s.Body, &st) == nil {
			for _, w := range st.Status.Workers {
				if strings.HasPrefix(w.ID, prefix) && len(w.Shards) > 0 {
					return
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("worker %s* never held a lease", prefix)
}

// waitFirstStep returns how long after began the coordinator answering on
// the status subject reports its first applied step. It polls every 10ms,
// so the figure is at most that late.
func waitFirstStep(t *testing.T, nc *transport.Conn, began time.Time) time.Duration {
	t.Helper()
	subj, _ := wire.NewSubjects(testJob)
	deadline := began.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		m, err := nc.Request(ctx, subj.Status, &wire.StatusRequest{})
		cancel()
		var st coordinator.JobStatus
		if s, ok := m.(*wire.Status); err == nil && ok && json.Unmarshal(s.Body, &st) == nil && st.Status.Counters.StepsAdvanced > 0 {
			return time.Since(began)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the restarted coordinator applied no step within 60s")
	return 0
}

func observer(t *testing.T, url string) *transport.Conn {
	t.Helper()
	// A short reconnect wait: the observer must not be what makes a
	// restarted coordinator look slow.
	nc, err := transport.Connect(url, transport.ConnectOptions{Name: "e2e-observer", Token: testToken, RetryOnFailedConnect: true, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func readSummary(t *testing.T, path string) coordinator.Summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("summary: %v", err)
	}
	var s coordinator.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("summary %s: %v", path, err)
	}
	return s
}

// checkExactlyOnce asserts the run applied exactly one result per shard
// of every step it computed, and that the only results it dropped as
// invalid are late copies of finished steps (backups, re-leases) and, after
// a coordinator restart, results of steps the killed one had reached.
func checkExactlyOnce(t *testing.T, s coordinator.Summary) {
	t.Helper()
	if s.Version != testSteps {
		t.Fatalf("final version %d, want %d", s.Version, testSteps)
	}
	want := (testSteps - s.ResumedFrom) * testShard
	if s.Counters.Applied != want || s.Counters.StepsAdvanced != testSteps-s.ResumedFrom {
		t.Fatalf("applied %d results over %d steps, want %d over %d", s.Counters.Applied, s.Counters.StepsAdvanced, want, testSteps-s.ResumedFrom)
	}
	for reason, n := range s.InvalidByReason {
		allowed := reason == "stale step" || (s.ResumedFrom > 0 && reason == "future step")
		if !allowed && n > 0 {
			t.Fatalf("%d results invalid for %q: %+v", n, reason, s.InvalidByReason)
		}
	}
	if s.Dropped != 0 {
		t.Fatalf("%d payloads failed to decode", s.Dropped)
	}
	t.Logf("applied %d, leased %d, expired %d, returned %d, backups %d, duplicates %d, invalid %v, workers lost %d",
		s.Counters.Applied, s.Counters.Leased, s.Counters.Expired, s.Counters.Returned, s.Counters.Backups,
		s.Counters.Duplicates, s.InvalidByReason, s.Counters.WorkersLost)
}

// runScenarios runs each scenario as a sub-test in a directory of its own,
// checks it applied every shard exactly once, and returns the final
// params sha256 of each that finished, by name.
func runScenarios(t *testing.T, scenarios []scenario) map[string]string {
	hashes := map[string]string{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := sc.run(t, t.TempDir())
			checkExactlyOnce(t, s)
			hashes[sc.name] = s.ParamsSHA256
		})
	}
	return hashes
}

type scenario struct {
	name string
	run  func(t *testing.T, dir string) coordinator.Summary
}

// embedded starts a coordinator with its embedded NATS on port.
func embedded(t *testing.T, dir string, port int, name string) *proc {
	args := append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	return start(t, name, bins.coord, args...)
}

// coordStarter starts a coordinator of the e2e job with its embedded NATS
// on port: embedded, or the same job with other flags.
type coordStarter func(t *testing.T, dir string, port int, name string) *proc

// workerScenarios are the runs every variant of the e2e job must end the
// same in, whatever its workers do: one worker, three, a worker SIGKILLed
// mid-step and another joining late, the coordinator SIGKILLed and
// restarted from its checkpoint. coord starts the job's coordinator.
func workerScenarios(coord coordStarter) []scenario {
	return []scenario{
		{"one worker", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			w := start(t, "worker", bins.worker, workerArgs(url, "w0")...)
			c.wait(t, 3*time.Minute)
			w.wait(t, 30*time.Second)
			return readSummary(t, filepath.Join(dir, "summary.json"))
		}},
		{"three workers", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			ws := workers(t, url, 3)
			c.wait(t, 3*time.Minute)
			for _, w := range ws {
				w.wait(t, 30*time.Second)
			}
			return readSummary(t, filepath.Join(dir, "summary.json"))
		}},
		{"worker killed mid-step and another joins late", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			obs := observer(t, url)
			ws := workers(t, url, 3)
			waitStep(t, obs, 6)
			waitHolding(t, obs, "w1-")
			ws[1].kill(t)
			waitStep(t, obs, 14)
			late := start(t, "late worker", bins.worker, workerArgs(url, "late")...)
			c.wait(t, 3*time.Minute)
			for _, w := range []*proc{ws[0], ws[2], late} {
				w.wait(t, 30*time.Second)
			}
			s := readSummary(t, filepath.Join(dir, "summary.json"))
			if s.Counters.WorkersLost == 0 {
				t.Fatalf("the killed worker was never declared lost: %+v", s.Counters)
			}
			return s
		}},
		{"coordinator killed after step 12 and restarted", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := coord(t, dir, port, "coord")
			obs := observer(t, url)
			ws := workers(t, url, 2)
			waitStep(t, obs, 13)
			c.kill(t)
			c2 := coord(t, dir, port, "restarted coord")
			c2.wait(t, 3*time.Minute)
			for _, w := range ws {
				w.wait(t, 30*time.Second)
			}
			s := readSummary(t, filepath.Join(dir, "summary.json"))
			if s.ResumedFrom < 12 {
				t.Fatalf("restarted coordinator resumed from step %d, want the checkpoint at 12 or later", s.ResumedFrom)
			}
			return s
		}},
	}
}

func TestExactnessWhateverTheWorkersDo(t *testing.T) {
	build(t)
	scenarios := append(workerScenarios(embedded), []scenario{
		{"one worker without --job (start assigns its job)", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := embedded(t, dir, port, "coord")
			w := start(t, "worker", bins.worker, "--nats", url, "--token", testToken, "--name", "pool", "--log-level", "info")
			c.wait(t, 3*time.Minute)
			w.wait(t, 30*time.Second) // exits 0: start's job was its last
			return readSummary(t, filepath.Join(dir, "summary.json"))
		}},
		{"prefetching workers (--prefetch 1), one killed mid-step", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := embedded(t, dir, port, "coord")
			obs := observer(t, url)
			var ws []*proc
			for i := 0; i < 3; i++ {
				name := fmt.Sprintf("p%d", i)
				ws = append(ws, start(t, name, bins.worker, append(workerArgs(url, name), "--prefetch", "1")...))
			}
			waitStep(t, obs, 6)
			waitHolding(t, obs, "p1-")
			ws[1].kill(t)
			c.wait(t, 3*time.Minute)
			for _, w := range []*proc{ws[0], ws[2]} {
				w.wait(t, 30*time.Second)
			}
			return readSummary(t, filepath.Join(dir, "summary.json"))
		}},
		{"coordinator killed three times, each restart working within 2s", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := embedded(t, dir, port, "coord")
			obs := observer(t, url)
			ws := workers(t, url, 2)
			var took []time.Duration
			for i, at := range []int{6, 13, 20} {
				waitStep(t, obs, at)
				waitHolding(t, obs, "w") // a request or shard of a worker is in flight
				c.kill(t)
				began := time.Now()
				c = embedded(t, dir, port, fmt.Sprintf("coord restarted %d", i+1))
				took = append(took, waitFirstStep(t, obs, began))
			}
			c.wait(t, 3*time.Minute)
			for _, w := range ws {
				w.wait(t, 30*time.Second)
			}
			t.Logf("restarted coordinator's start to its first applied step: %v", took)
			for i, d := range took {
				if d > 2*time.Second {
					t.Errorf("restart %d applied its first step %v after starting, want within 2s", i+1, d)
				}
			}
			return readSummary(t, filepath.Join(dir, "summary.json"))
		}},
		{"worker hangs (SIGSTOP)", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			c := embedded(t, dir, port, "coord")
			obs := observer(t, url)
			w0 := start(t, "worker0", bins.worker, workerArgs(url, "w0")...)
			w1 := start(t, "stopped worker", bins.worker, workerArgs(url, "w1")...)
			waitStep(t, obs, 5)
			if err := w1.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			c.wait(t, 3*time.Minute)
			w0.wait(t, 30*time.Second)
			s := readSummary(t, filepath.Join(dir, "summary.json"))
			if s.Counters.WorkersLost == 0 {
				t.Fatalf("the stopped worker was never declared lost: %+v", s.Counters)
			}
			return s
		}},
		{"external NATS server restarted mid-run", func(t *testing.T, dir string) coordinator.Summary {
			port := freePort(t)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			nsArgs := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "--auth", testToken}
			ns := start(t, "nats-server", bins.ns, nsArgs...)
			obs := observer(t, url)
			args := append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--nats", url)
			c := start(t, "coord", bins.coord, args...)
			ws := workers(t, url, 2)
			waitStep(t, obs, 10)
			ns.kill(t)
			time.Sleep(500 * time.Millisecond)
			start(t, "restarted nats-server", bins.ns, nsArgs...)
			c.wait(t, 3*time.Minute)
			for _, w := range ws {
				w.wait(t, 30*time.Second)
			}
			return readSummary(t, filepath.Join(dir, "summary.json"))
		}},
	}...)
	scenarios = append(scenarios, scenario{"3-node NATS cluster, the coordinator's node killed", func(t *testing.T, dir string) coordinator.Summary {
		// Three nats-server processes clustered by routes; the coordinator
		// on node 0, a worker on each of nodes 1 and 2. Node 0 is SIGKILLed mid-job: the coordinator reconnects to
		// another node, and whatever was in flight through node 0 is
		// leased again.
		var client, route [3]int
		for i := range client {
			client[i], route[i] = freePort(t), freePort(t)
		}
		url := func(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", client[i]) }
		var nodes [3]*proc
		for i := range nodes {
			var routes []string
			for j := range route {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", route[j]))
				}
			}
			nodes[i] = start(t, fmt.Sprintf("nats-server %d", i), bins.ns, "-a", "127.0.0.1", "-p", strconv.Itoa(client[i]), "--auth", testToken,
				"--cluster_name", "fsl", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", route[i]), "--routes", strings.Join(routes, ","))
		}
		obs := observer(t, url(2))
		// Only node 0's URL, as behind a Service: the client learns the
		// others from the cluster.
		args := append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--nats", url(0))
		c := start(t, "coord", bins.coord, args...)
		ws := []*proc{start(t, "worker on node 1", bins.worker, workerArgs(url(1), "w1")...),
			start(t, "worker on node 2", bins.worker, workerArgs(url(2), "w2")...)}
		waitStep(t, obs, 10)
		nodes[0].kill(t)
		c.wait(t, 3*time.Minute)
		for _, w := range ws {
			w.wait(t, 30*time.Second)
		}
		s := readSummary(t, filepath.Join(dir, "summary.json"))
		// It moves to node 1 or to node 2 (which it learnt from the cluster).
		out := c.out.String()
		moved := strings.Contains(out, "nats reconnected") && (strings.Contains(out, "url="+url(1)) || strings.Contains(out, "url="+url(2)))
		if s.Version != testSteps || !moved {
			t.Errorf("the coordinator did not move to another node and finish (version %d):\n%s", s.Version, out)
		}
		return s
	}})
	scenarios = append(scenarios, scenario{"single process without NATS", func(t *testing.T, dir string) coordinator.Summary {
		sha := benchTrain(t, dir, jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")))
		// No coordinator counters to check: report a clean exactly-once run.
		return coordinator.Summary{Version: testSteps, ParamsSHA256: sha,
			Counters: machine.Counters{Applied: testSteps * testShard, StepsAdvanced: testSteps}}
	}})
	hashes := runScenarios(t, scenarios)
	var ref string
	for _, h := range hashes {
		if ref == "" {
			ref = h
		}
		if h != ref {
			t.Errorf("final parameters differ between scenarios: %v", hashes)
			break
		}
	}
	t.Logf("every scenario ended with params sha256 %s", ref)
}

func TestClientWithoutTokenCannotReachTheJob(t *testing.T) {
	build(t)
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	embedded(t, dir, port, "coord")
	obs := observer(t, url) // with the token: proves the server is up
	deadline := time.Now().Add(30 * time.Second)
	for step(obs) < 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, token := range []string{"", "wrong"} {
		nc, err := nats.Connect(url, nats.Token(token), nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
			t.Fatalf("client with token %q connected", token)
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("client with token %q: %v, want an authorization error", token, err)
		}
	}
	// A worker with the wrong token never joins: the job's status shows no
	// worker after it has had time to try.
	w := start(t, "bad worker", bins.worker, "--nats", url, "--token", "wrong", "--job", testJob)
	select {
	case <-w.done:
		if w.err == nil {
			t.Fatal("a worker with the wrong token exited 0")
		}
		if !strings.Contains(w.out.String(), "--token") {
			t.Fatalf("the refused worker's message does not point at --token:\n%s", w.out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a worker with the wrong token kept retrying instead of failing")
	}
	subj, _ := wire.NewSubjects(testJob)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := obs.Request(ctx, subj.Status, &wire.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var st coordinator.JobStatus
	if err := json.Unmarshal(m.(*wire.Status).Body, &st); err != nil {
		t.Fatal(err)
	}
	if n := len(st.Status.Workers); n != 0 || st.Step != 0 {
		t.Fatalf("status shows %d workers at step %d, want none at 0", n, st.Step)
	}
}

// TestControlMessagesNeedTheCoordinatorRole is the forged-drain attack with
// role credentials: clients holding the worker or the reader key publish
// Ctl{drain}; the server refuses it, the workers keep working to the end
// of the job, and the coordinator's log names the violation.
func TestControlMessagesNeedTheCoordinatorRole(t *testing.T) {
	build(t)
	dir := t.TempDir()
	authDir := filepath.Join(dir, "auth")
	init := start(t, "auth init", bins.coord, "auth", "init", "--dir", authDir)
	init.wait(t, 30*time.Second)
	auth := transport.AuthDir(authDir)

	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	args := jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json"))
	for i := range args {
		if args[i] == "--token" { // role credentials instead of the shared token
			args = append(args[:i], args[i+2:]...)
			break
		}
	}
	c := start(t, "coord", bins.coord, append(args, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--auth", authDir)...)
	var ws []*proc
	for i := 0; i < 2; i++ {
		ws = append(ws, start(t, fmt.Sprintf("worker%d", i), bins.worker,
			"--nats", url, "--nkey", auth.Seed(transport.RoleWorker), "--job", testJob, "--name", fmt.Sprintf("w%d", i), "--log-level", "info"))
	}
	reader, err := transport.Connect(url, transport.ConnectOptions{Name: "e2e-reader", NKeyFile: auth.Seed(transport.RoleReader), Role: transport.RoleReader, RetryOnFailedConnect: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reader.Close)
	waitStep(t, reader, 3)

	subj, _ := wire.NewSubjects(testJob)
	for _, r := range []transport.Role{transport.RoleWorker, transport.RoleReader} {
		rogue, err := transport.Connect(url, transport.ConnectOptions{Name: "rogue-" + string(r), NKeyFile: auth.Seed(r), Role: r})
		if err != nil {
			t.Fatalf("connect with the %s key: %v", r, err)
		}
		if err := rogue.Send(subj.Ctl, &wire.Ctl{Kind: wire.CtlDrain, Reason: "forged"}); err != nil {
			t.Fatalf("send as %s: %v", r, err)
		}
		if err := rogue.Flush(); err != nil {
			t.Fatal(err)
		}
		rogue.Close()
	}
	// A worker key cannot ask for the status either: only readers can.
	wk, err := transport.Connect(url, transport.ConnectOptions{Name: "rogue-status", NKeyFile: auth.Seed(transport.RoleWorker), Role: transport.RoleWorker})
	if err != nil {
		t.Fatal(err)
	}
	if s := step(wk); s >= 0 {
		t.Errorf("a worker key read the job's status (step %d)", s)
	}
	wk.Close()

	c.wait(t, 3*time.Minute)
	for _, w := range ws {
		w.wait(t, 30*time.Second)
		if strings.Contains(w.out.String(), "forged") {
			t.Errorf("%s saw the forged drain:\n%s", w.name, w.out.String())
		}
	}
	s := readSummary(t, filepath.Join(dir, "summary.json"))
	checkExactlyOnce(t, s)
	if log := c.out.String(); !strings.Contains(log, "Publish Violation") || !strings.Contains(log, subj.Ctl) {
		t.Errorf("the coordinator's log does not name the refused control message:\n%s", log)
	}
	if got := s.Counters.WorkersLost; got != 0 {
		t.Errorf("%d workers lost: a forged drain stopped one", got)
	}
}

// TestWorkersOfAnotherComputeClassAreRefused joins workers that compute
// other bits than the job's first worker — AVX-512 switched off, OpenBLAS's
// SkylakeX kernels instead of the default — and checks each is refused with
// both classes named; then, in a job that allows mixing, that they are
// admitted and the store records it.
func TestWorkersOfAnotherComputeClassAreRefused(t *testing.T) {
	build(t)
	others := []struct{ name, env string }{
		{"avx512 off", "GODEBUG=cpu.avx512f=off"},
		{"skylakex blas", "OPENBLAS_CORETYPE=SkylakeX"},
	}
	run := func(t *testing.T, mixed bool) (string, []*proc) {
		dir := t.TempDir()
		port := freePort(t)
		url := fmt.Sprintf("nats://127.0.0.1:%d", port)
		args := append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
		if mixed {
			cfg := filepath.Join(dir, "job.yaml")
			if err := os.WriteFile(cfg, []byte("allow_mixed_classes: true\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--config", cfg)
		}
		c := start(t, "coord", bins.coord, args...)
		obs := observer(t, url)
		// The job's class is its first worker's: pinned to OpenBLAS's
		// Haswell kernels, so that it differs from SkylakeX's whatever
		// core this machine's OpenBLAS picks by itself (on a Cooper Lake
		// its own kernels compute SkylakeX's bits).
		first := startEnv(t, "worker0", []string{"OPENBLAS_CORETYPE=Haswell"}, bins.worker, workerArgs(url, "w0")...)
		waitStep(t, obs, 1)
		var ps []*proc
		for i, o := range others {
			p := &proc{name: o.name, cmd: exec.Command(bins.worker, workerArgs(url, fmt.Sprintf("x%d", i))...), out: &syncBuffer{}, done: make(chan struct{})}
			p.cmd.Env = append(os.Environ(), o.env)
			p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { p.err = p.cmd.Wait(); close(p.done) }()
			t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done }) //nolint:errcheck
			ps = append(ps, p)
		}
		if mixed {
			c.wait(t, 3*time.Minute)
			first.wait(t, 30*time.Second)
			return dir, ps
		}
		for _, p := range ps {
			select {
			case <-p.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("the %s worker was not refused within 60s:\n%s", p.name, p.out.String())
			}
		}
		c.wait(t, 3*time.Minute)
		first.wait(t, 30*time.Second)
		return dir, ps
	}

	t.Run("refused", func(t *testing.T) {
		dir, ps := run(t, false)
		for _, p := range ps {
			out := p.out.String()
			if p.err == nil {
				t.Errorf("the %s worker exited 0:\n%s", p.name, out)
			}
			if !strings.Contains(out, "wrong compute class") || strings.Count(out, "class \"cpu ") < 2 || !strings.Contains(out, "allow_mixed_classes") {
				t.Errorf("the %s worker's message does not name both classes and the way out:\n%s", p.name, out)
			}
		}
		s := readSummary(t, filepath.Join(dir, "summary.json"))
		checkExactlyOnce(t, s)
	})
	t.Run("allowed and recorded", func(t *testing.T) {
		dir, _ := run(t, true)
		st, err := checkpoints.Open(filepath.Join(dir, "fsl.db"), checkpoints.WithReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		rec, err := st.Job(testJob)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Class.Mixed || rec.Class.Canary == "" {
			t.Fatalf("job record's class %+v, want it marked mixed", rec.Class)
		}
		last, err := st.Latest(testJob)
		if err != nil {
			t.Fatal(err)
		}
		if last.Metrics["mixed_classes"] != 1 {
			t.Fatalf("last checkpoint's metrics %v do not record mixed classes", last.Metrics)
		}
	})
}

// benchTrain runs the job of start's args in one process without NATS
// (bench train) and returns its final parameters' SHA-256: the reference a
// distributed run must end with.
func benchTrain(t *testing.T, dir string, startArgs []string) string {
	t.Helper()
	args := startArgs[1:] // drop "start"
	var bench []string
	for i := 0; i < len(args); i++ { // bench train takes only the job's flags
		switch args[i] {
		case "--db", "--token", "--eval-episodes", "--log-level", "--summary", "--verify":
			i++
		case "--quiet":
		default:
			bench = append(bench, args[i])
		}
	}
	sum := filepath.Join(dir, "bench.json")
	p := start(t, "bench train", bins.coord, append([]string{"bench", "train", "--eval-episodes", "0", "--quiet", "--summary", sum}, bench...)...)
	p.wait(t, 3*time.Minute)
	var r struct {
		ParamsSHA256 string `json:"params_sha256"`
	}
	b, err := os.ReadFile(sum)
	if err != nil || json.Unmarshal(b, &r) != nil || r.ParamsSHA256 == "" {
		t.Fatalf("bench train summary: %v %s", err, b)
	}
	return r.ParamsSHA256
}
