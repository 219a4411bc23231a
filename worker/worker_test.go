package worker

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// cluster starts an embedded NATS server and a coordinator driver for spec
// in this process; the driver runs until the job ends or the test does.
// finished is closed when it has returned, *sum then holding its summary.
func cluster(t *testing.T, spec coordinator.JobSpec) (url string, finished <-chan struct{}, sum **coordinator.Summary) {
	t.Helper()
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "test-coord"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	d, err := coordinator.NewDriver(coordinator.DriverConfig{Spec: spec, DB: filepath.Join(t.TempDir(), "fsl.db"), Conn: nc, Linger: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fin := make(chan struct{})
	var s *coordinator.Summary
	go func() {
		s, _ = d.Run(ctx)
		close(fin)
	}()
	t.Cleanup(func() { cancel(); <-fin })
	return srv.ClientURL(), fin, &s
}

func smallSpec(steps, shards int) coordinator.JobSpec {
	return coordinator.JobSpec{ID: "wt", Size: 16, Way: 5, Shot: 1, Query: 1, Shards: shards, Steps: steps, Seed: 2}.WithDefaults()
}

func TestWorkerFetchesParametersOncePerVersion(t *testing.T) {
	spec := smallSpec(3, 3)
	url, finished, sum := cluster(t, spec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Run(ctx, Config{Job: spec.ID, NATS: url, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Shards != 9 || st.ParamsFetched != 3 || st.Stale != 0 {
		t.Fatalf("stats %+v, want 9 shards and one fetch per version (3)", st)
	}
	select {
	case <-finished:
		s := *sum
		if s.Version != 3 || s.Counters.Applied != 9 {
			t.Fatalf("coordinator ended at version %d with %d applied, want 3 and 9", s.Version, s.Counters.Applied)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("coordinator did not finish")
	}
}

// TestWorkerDrainFinishesTheShardInHand: cancelling the worker's context
// (what SIGTERM does) while it computes lets it send that shard's result
// and then leave without asking for more.
func TestWorkerDrainFinishesTheShardInHand(t *testing.T) {
	spec := smallSpec(50, 2)
	url, _, _ := cluster(t, spec)
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	calls := 0
	compute := func(l *wire.Lease) (*wire.Result, error) {
		calls++
		if calls == 1 {
			close(started)
			<-release
		}
		return &wire.Result{Result: params.Result{Step: int(l.Step), Shard: l.Shard, Version: int(l.Version), Loss: 1, Count: 1,
			Grads: make(params.Vector, m.NumParams()), Stats: make(params.Vector, m.StateLayout().Size())}}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	type out struct {
		st  Stats
		err error
	}
	res := make(chan out, 1)
	go func() {
		st, err := Run(ctx, Config{Job: spec.ID, NATS: url, Name: "drain", Compute: compute})
		res <- out{st, err}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("worker never got a shard")
	}
	cancel()
	close(release)
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.st.Shards != 1 || calls != 1 {
			t.Fatalf("after the drain the worker sent %d results and computed %d shards, want exactly the one in hand", r.st.Shards, calls)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not leave after the drain")
	}
}

func TestWorkerRefusesGPUWithoutCUDA(t *testing.T) {
	_, err := Run(context.Background(), Config{Job: "x", NATS: "nats://127.0.0.1:1", UseGPU: true, GPU: 0})
	if !errors.Is(err, model.ErrNoCUDA) {
		t.Fatalf("Run with a GPU in a CPU build = %v, want ErrNoCUDA", err)
	}
}

// A coordinator that dies with a work request in flight never answers it;
// the hello of its successor (a new epoch) makes the worker ask again at
// once instead of waiting out its request timeout.
func TestWorkerAsksANewCoordinatorAtOnce(t *testing.T) {
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "fake-coord"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subj, _ := wire.NewSubjects("hello")
	join, err := nc.Subscribe(subj.Join, func(_ wire.Message, reply string) {
		nc.Send(reply, &wire.JoinAck{Job: "hello", WorkerID: "x", Epoch: 1}) //nolint:errcheck // the test fails below if it is lost
	}, transport.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer join.Unsubscribe() //nolint:errcheck
	asked := make(chan string, 8)
	work, err := nc.Subscribe(subj.Work, func(_ wire.Message, reply string) { asked <- reply }, transport.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer work.Unsubscribe() //nolint:errcheck
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Config{Job: "hello", NATS: srv.ClientURL(), Name: "t", RequestTimeout: 20 * time.Second,
			Compute: func(*wire.Lease) (*wire.Result, error) { return nil, errors.New("no lease expected") }})
		out <- err
	}()
	select { // the first request goes unanswered: its coordinator "died"
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never asked for work")
	}
	began := time.Now()
	if err := nc.Send(subj.Ctl, &wire.Ctl{Kind: wire.CtlHello, Epoch: 2}); err != nil {
		t.Fatal(err)
	}
	select {
	case reply := <-asked:
		if err := nc.Send(reply, &wire.Done{}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not ask the new coordinator within 5s of its hello")
	}
	if err := <-out; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("the worker ended %v after the hello, want well under its 20s request timeout", d)
	}
}

// TestWorkerGivesUpWithoutAnAnswer: a worker whose job has no coordinator
// (a mistyped --job), or whose coordinator stops answering, fails with
// ErrGaveUp after GiveUpAfter and a message saying which; without
// GiveUpAfter it keeps waiting.
func TestWorkerGivesUpWithoutAnAnswer(t *testing.T) {
	tests := []struct {
		name      string
		giveUp    time.Duration
		joinFirst bool     // a fake coordinator answers the join and one work request, then goes away
		want      []string // in the error; nil: no error before the context ends
	}{
		{"no coordinator of the job", 400 * time.Millisecond, false,
			[]string{`job "typo": no coordinator answered for`, "check --job", "--give-up-after"}},
		{"coordinator gone", 400 * time.Millisecond, true,
			[]string{`job "typo": the coordinator has not answered for`, "--give-up-after"}},
		{"never gives up", 0, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := transport.StartServer(transport.ServerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Shutdown)
			var lastAnswer time.Time
			answered := make(chan struct{})
			if tc.joinFirst {
				nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "fake-coord"})
				if err != nil {
					t.Fatal(err)
				}
				subj, _ := wire.NewSubjects("typo")
				join, err := nc.Subscribe(subj.Join, func(_ wire.Message, reply string) {
					nc.Send(reply, &wire.JoinAck{Job: "typo", WorkerID: "x", Epoch: 1}) //nolint:errcheck // a lost ack fails the test below
				}, transport.SubscribeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				work, err := nc.Subscribe(subj.Work, func(_ wire.Message, reply string) {
					select {
					case <-answered:
						return
					default:
					}
					lastAnswer = time.Now()
					nc.Send(reply, &wire.Wait{RetryAfter: 10 * time.Millisecond}) //nolint:errcheck
					close(answered)
				}, transport.SubscribeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
				go func() { // the coordinator leaves after its one answer
					<-answered
					join.Unsubscribe() //nolint:errcheck
					work.Unsubscribe() //nolint:errcheck
					nc.Close()
				}()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			began := time.Now()
			_, err = Run(ctx, Config{Job: "typo", NATS: srv.ClientURL(), Name: "t", RequestTimeout: 100 * time.Millisecond,
				GiveUpAfter: tc.giveUp, Compute: func(*wire.Lease) (*wire.Result, error) { return nil, errors.New("no lease expected") }})
			took := time.Since(began)
			if tc.want == nil {
				if err != nil || took < 2*time.Second {
					t.Fatalf("Run = %v after %v, want nil when the context ends at 3s", err, took)
				}
				return
			}
			if !errors.Is(err, ErrGaveUp) {
				t.Fatalf("Run = %v, want ErrGaveUp", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.joinFirst {
				<-answered // lastAnswer is written before answered closes
			}
			if tc.joinFirst && (lastAnswer.IsZero() || time.Since(lastAnswer) < tc.giveUp) {
				t.Errorf("gave up %v after the coordinator's last answer, want at least %v", time.Since(lastAnswer), tc.giveUp)
			}
			if took < tc.giveUp || took > 2500*time.Millisecond {
				t.Errorf("gave up after %v, want between %v and 2.5s", took, tc.giveUp)
			}
		})
	}
}

// TestWorkerPrefetchesTheNextShard: with Prefetch 1 the work request for
// the next shard is out while the shard in hand is computed (for the last
// shard of a step it is held until the next step begins), every shard is
// still computed and applied once, and a prefetch outside 0..MaxPrefetch
// is refused.
func TestWorkerPrefetchesTheNextShard(t *testing.T) {
	spec := smallSpec(3, 4)
	url, finished, sum := cluster(t, spec)
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	met := NewMetrics()
	var asked []int64 // work requests sent while the k-th shard was computed
	compute := func(l *wire.Lease) (*wire.Result, error) {
		k := int64(len(asked) + 1)
		for deadline := time.Now().Add(5 * time.Second); met.requests.Load() <= k && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		asked = append(asked, met.requests.Load())
		return &wire.Result{Result: params.Result{Step: int(l.Step), Shard: l.Shard, Version: int(l.Version), Loss: 1, Count: 1,
			Grads: make(params.Vector, m.NumParams()), Stats: make(params.Vector, m.StateLayout().Size())}}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Run(ctx, Config{Job: spec.ID, NATS: url, Name: "pf", Compute: compute, Metrics: met, Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := spec.Steps * spec.Shards; st.Shards != want || len(asked) != want {
		t.Fatalf("sent %d results after %d computations, want %d of each", st.Shards, len(asked), want)
	}
	for i, n := range asked {
		if n < int64(i+2) {
			t.Errorf("while computing shard %d of the run, %d work requests had been sent, want %d (the next one prefetched)", i+1, n, i+2)
		}
	}
	select {
	case <-finished:
		if s := *sum; s.Counters.Applied != spec.Steps*spec.Shards {
			t.Errorf("coordinator applied %d results, want %d", s.Counters.Applied, spec.Steps*spec.Shards)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("coordinator did not finish")
	}

	for _, bad := range []int{-1, MaxPrefetch + 1} {
		if _, err := Run(ctx, Config{Job: spec.ID, NATS: url, Prefetch: bad}); err == nil || !strings.Contains(err.Error(), "prefetch") {
			t.Errorf("Prefetch %d: %v, want an error naming prefetch", bad, err)
		}
	}
}
