package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/worker"
)

// cheater is a client with the job's credentials that computes every lease
// it takes with fsl's own model and worker code, in the job's compute class
// (its canary is right), and then, after its first honest results (which
// earn it trust: the job takes the unverified ones unchecked), multiplies
// the gradients by 1.01 before sending them: finite, well-formed and
// wrong.
type cheater struct {
	id     string
	honest atomic.Int64 // results sent right before it starts cheating
	sent   atomic.Int64
	banned atomic.Bool
}

func (c *cheater) run(ctx context.Context, url string, joined chan<- struct{}) error {
	cl, err := dialClient(ctx, url, c.id)
	if err != nil {
		return err
	}
	defer cl.nc.Close()
	ack, m, canary, err := cl.join()
	if errors.Is(err, wire.ErrBanned) {
		c.banned.Store(true)
		return nil
	}
	if err != nil {
		return err
	}
	joined <- struct{}{}
	cl.heartbeat()
	var p, st params.Vector
	var ver, lineage uint64
	have := false
	for i := 0; i < 100000 && ctx.Err() == nil; i++ {
		reply, err := cl.request(cl.subj.Work, &wire.WorkRequest{Worker: c.id, Canary: canary, Class: m.Class()})
		if errors.Is(err, wire.ErrBanned) {
			c.banned.Store(true)
			return nil
		}
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		switch r := reply.(type) {
		case *wire.Lease:
			if !have || ver != r.Version || lineage != r.Lineage {
				pr, err := cl.request(cl.subj.Params, &wire.ParamsRequest{Version: r.Version, Lineage: r.Lineage})
				pm, ok := pr.(*wire.Params)
				if err != nil || !ok {
					continue // gone: the step finished without us
				}
				p, st, ver, lineage, have = pm.Params, pm.State, pm.Version, pm.Lineage, true
			}
			res, err := worker.Compute(m, p, st, r)
			if err != nil {
				return err
			}
			if c.sent.Load() >= c.honest.Load() {
				for j := range res.Grads {
					res.Grads[j] *= 1.01
				}
			}
			res.Worker, res.LayoutHash = c.id, ack.LayoutHash
			if err := cl.nc.Send(cl.subj.Result, res); err != nil {
				return err
			}
			c.sent.Add(1)
		case *wire.Wait:
			time.Sleep(min(r.RetryAfter, 200*time.Millisecond))
		case *wire.Done:
			return nil
		}
	}
	return nil
}

// TestVerifiedResultsCatchAWorkerThatReturnsWrongGradients runs the e2e job
// with two honest worker processes and a cheater that sends right results
// while alone (up to 6) and then ×1.01 gradients; it joins at step 9 (with verify 0: first). With verify 0.2 the
// cheater is caught, banned, and the job rolls back to a checkpoint before
// its first result taken unchecked (the checkpoint of step 8 or later),
// recomputes from there and ends with bench train's parameters; with
// verify 0 (the default) the job takes its gradients and ends elsewhere,
// with nothing in its counters. The verified run is repeated at pipeline
// depth 1, whose rollback restores a checkpoint's earlier parameter
// version too, and must end with bench train's parameters at that depth.
func TestVerifiedResultsCatchAWorkerThatReturnsWrongGradients(t *testing.T) {
	build(t)
	refs := map[string]string{}
	for _, depth := range []string{"0", "1"} {
		dir := t.TempDir()
		refs[depth] = benchTrain(t, dir, append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--pipeline", depth))
	}
	for _, tt := range []struct {
		verify, pipeline string
		caught           bool
	}{{"0.2", "0", true}, {"0", "0", false}, {"0.2", "1", true}} {
		ref := refs[tt.pipeline]
		t.Run("verify "+tt.verify+" pipeline "+tt.pipeline, func(t *testing.T) {
			s, c, log, dir := cheatRun(t, tt.verify, "--pipeline", tt.pipeline)
			t.Logf("verify %s: checks %d, mismatches %d, bans %d, rollbacks %d (%d steps), cheater sent %d results, banned %v; params %s",
				tt.verify, s.Counters.Checks, s.Counters.Mismatches, s.Counters.Bans, s.Counters.Rollbacks,
				s.Counters.StepsRolledBack, c.sent.Load(), c.banned.Load(), s.ParamsSHA256)
			if c.sent.Load() == 0 {
				t.Fatal("the cheater sent no result: the test proves nothing")
			}
			if s.Version != testSteps {
				t.Fatalf("final version %d, want %d", s.Version, testSteps)
			}
			if !tt.caught {
				if s.ParamsSHA256 == ref {
					t.Errorf("the cheater's gradients left the parameters unchanged: %s", ref)
				}
				if s.Counters.Bans+s.Counters.Checks+s.Counters.Rollbacks != 0 || c.banned.Load() {
					t.Errorf("verification off, yet counters %+v, banned %v", s.Counters, c.banned.Load())
				}
				return
			}
			if s.ParamsSHA256 != ref {
				t.Errorf("params %s, bench train %s", s.ParamsSHA256, ref)
			}
			if s.Counters.Bans != 1 || s.Counters.Mismatches < 1 || s.Counters.Checks < 1 || !c.banned.Load() {
				t.Errorf("cheater not caught: counters %+v, told it is banned %v", s.Counters, c.banned.Load())
			}
			// The cheater's right results while alone: it computed every
			// shard of the step the honest workers had not, and the
			// unverified ones among them (each is verified with
			// probability 0.2) were taken unchecked.
			if s.Counters.Rollbacks != 1 || s.Counters.StepsRolledBack < 1 {
				t.Errorf("rollbacks %d over %d steps, want one", s.Counters.Rollbacks, s.Counters.StepsRolledBack)
			}
			for _, want := range []string{"worker banned", `worker=cheater`, "rolled back"} {
				if !strings.Contains(log, want) {
					t.Errorf("coordinator log lacks %q", want)
				}
			}
			// The ban outlives the process: the job resumed from its store
			// for two more steps refuses the cheater at its join.
			port := freePort(t)
			args := append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary2.json")),
				"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--verify", tt.verify, "--pipeline", tt.pipeline)
			args[slices.Index(args, "--steps")+1] = strconv.Itoa(testSteps + 2)
			co := start(t, "coord again", bins.coord, args...)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			again := &cheater{id: "cheater"}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := again.run(ctx, url, make(chan struct{}, 1)); err != nil || !again.banned.Load() || again.sent.Load() != 0 {
				t.Errorf("the cheater's join after a restart: err %v, banned %v, sent %d; want refused as banned",
					err, again.banned.Load(), again.sent.Load())
			}
			ws := workers(t, url, 2) // verified shards need two
			co.wait(t, time.Minute)
			for _, w := range ws {
				w.wait(t, 30*time.Second)
			}
		})
	}
}

// cheatRun runs the e2e job with --verify verify (and the start flags
// extra): two honest worker processes from the start, the cheater from
// step 9. It returns the coordinator's summary, the cheater, the
// coordinator's output and the run's directory (its store is fsl.db there).
func cheatRun(t *testing.T, verify string, extra ...string) (coordinator.Summary, *cheater, string, string) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	args := append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")),
		append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--verify", verify}, extra...)...)
	co := start(t, "coord", bins.coord, args...)
	obs := observer(t, url)
	// With verification the cheater comes at step 9, into a job the honest
	// workers run, and works alone for a while (they are stopped) so that
	// results of it are taken unchecked: only then is a rollback needed,
	// and it goes back to the checkpoint of step 8 or later. (Beside
	// running honest workers, which back up the leases of a worker yet to
	// deliver, a slow cheater may lose every race.) Without verification it
	// comes first and alone, so its wrong results are certainly taken.
	var ws []*proc
	if verify != "0" {
		ws = workers(t, url, 2)
		waitStep(t, obs, 9)
		for _, w := range ws {
			if err := w.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c := &cheater{id: "cheater"}
	c.honest.Store(6)
	joined := make(chan struct{}, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.run(ctx, url, joined); err != nil && ctx.Err() == nil {
			t.Errorf("cheater: %v", err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	select {
	case <-joined:
	case <-time.After(30 * time.Second):
		t.Fatal("the cheater did not join within 30s")
	}
	if ws == nil {
		// Without verification the cheater alone computes every shard:
		// wait for 4 wrong results.
		waitSent(t, c, c.honest.Load()+4, false)
	} else {
		// Alone, the cheater can settle only the unverified shards of
		// the step (a verified one needs a second worker): it sends 6
		// right results or stalls at the end of the step, whichever is
		// first, and cheats from then on, when the honest workers are
		// back to check it.
		c.honest.Store(waitSent(t, c, c.honest.Load(), true))
	}
	if ws == nil {
		ws = workers(t, url, 2)
	} else {
		for _, w := range ws {
			if err := w.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
	}
	co.wait(t, 3*time.Minute)
	for _, w := range ws {
		w.wait(t, 30*time.Second)
	}
	return readSummary(t, filepath.Join(dir, "summary.json")), c, co.out.String(), dir
}

// waitSent waits up to a minute until the cheater has sent n results and
// returns how many it sent. With stall, it also returns once the cheater
// has sent at least one and then none for 5 s.
func waitSent(t *testing.T, c *cheater, n int64, stall bool) int64 {
	t.Helper()
	last, since := c.sent.Load(), time.Now()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		sent := c.sent.Load()
		if sent >= n || (stall && sent > 0 && sent == last && time.Since(since) > 5*time.Second) {
			t.Logf("the cheater alone sent %d results", sent)
			return sent
		}
		if sent != last {
			last, since = sent, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cheater alone sent %d results in a minute, want %d", sent, n)
		}
	}
}
