package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsl-project/fsl/wire"

	"github.com/fsl-project/fsl/params"
	"github.com/nats-io/nats.go"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// bigParams is a parameter version of n values that depend on version.
func bigParams(version uint64, n int) *wire.Params {
	p := &wire.Params{Version: version, LayoutHash: 0xabc, Params: make(params.Vector, n), State: params.Vector{float32(version)}}
	for i := range p.Params {
		p.Params[i] = float32(i%1000)*0.5 + float32(version)
	}
	return p
}

func startServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	s, err := StartServer(opts)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t testing.TB, url string, opts ConnectOptions) *Conn {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	nc, err := Connect(url, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func testSubjects(t testing.TB) wire.Subjects {
	t.Helper()
	s, err := wire.NewSubjects("test-job")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serveParams answers ParamsRequests with a Params of n values for versions
// >= current and a stale-version Error below it.
func serveParams(t testing.TB, nc *Conn, subject string, current uint64, n int) {
	t.Helper()
	_, err := nc.Subscribe(subject, func(m wire.Message, reply string) {
		req, ok := m.(*wire.ParamsRequest)
		var resp wire.Message = &wire.Error{Code: wire.CodeBadRequest, Text: fmt.Sprintf("unexpected %v", m.Type())}
		switch {
		case !ok:
		case req.Version < current:
			resp = &wire.Error{Code: wire.CodeStaleVersion, Text: fmt.Sprintf("version %d superseded by %d", req.Version, current)}
		default:
			resp = bigParams(req.Version, n)
		}
		if err := nc.Send(reply, resp); err != nil {
			t.Errorf("reply: %v", err)
		}
	}, SubscribeOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestParamsOf5MBRoundTripThroughChunkingServer sends 5 MB of parameters
// through a server with a 64 KB payload limit, over sockets and over
// in-process connections (ConnectOptions.InProcess, what start's local
// workers use), and a mix of both.
func TestParamsOf5MBRoundTripThroughChunkingServer(t *testing.T) {
	const maxPayload = 64 << 10
	s := startServer(t, ServerOptions{MaxPayload: maxPayload})
	for _, tc := range []struct {
		name                string
		coordInProc, inProc bool
	}{{"tcp", false, false}, {"in-process", true, true}, {"mixed", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			subj := testSubjects(t)
			opts := func(name string, inProc bool) ConnectOptions {
				o := ConnectOptions{Name: name}
				if inProc {
					o.InProcess = s
				}
				return o
			}
			coord := connect(t, s.ClientURL(), opts("coord", tc.coordInProc))
			worker := connect(t, s.ClientURL(), opts("worker", tc.inProc))
			if got := worker.nc.MaxPayload(); got != maxPayload {
				t.Fatalf("server max payload %d, want %d", got, maxPayload)
			}
			if addr := worker.nc.ConnectedAddr(); (addr == "pipe") != tc.inProc {
				t.Fatalf("worker connected to %q, in-process %v", addr, tc.inProc)
			}
			const n = 5 << 20 / 4 // 5 MB of float32
			serveParams(t, coord, subj.Params, 5, n)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := worker.Request(ctx, subj.Params, &wire.ParamsRequest{Version: 5})
			if err != nil {
				t.Fatalf("Request: %v", err)
			}
			want := bigParams(5, n)
			if !reflect.DeepEqual(got, wire.Message(want)) {
				t.Fatal("the 5 MB Params came back different")
			}

			_, err = worker.Request(ctx, subj.Params, &wire.ParamsRequest{Version: 4})
			if !errors.Is(err, wire.ErrStaleVersion) {
				t.Fatalf("request for a superseded version: err = %v, want ErrStaleVersion", err)
			}
		})
	}
}

func TestResultsFromTwoPublishersReassembleThroughServer(t *testing.T) {
	s := startServer(t, ServerOptions{MaxPayload: 64 << 10})
	subj := testSubjects(t)
	coord := connect(t, s.ClientURL(), ConnectOptions{Name: "coord"})
	got := make(chan *wire.Result, 16)
	sub, err := coord.Subscribe(subj.Result, func(m wire.Message, _ string) {
		if r, ok := m.(*wire.Result); ok {
			got <- r
		}
	}, SubscribeOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		t.Fatal(err)
	}

	const perWorker, floats = 5, 100_000 // 400 KB each: 7 chunks
	result := func(worker string, shard int) *wire.Result {
		g := make(params.Vector, floats)
		for i := range g {
			g[i] = float32(shard*1000+i%977) * 0.25
		}
		return &wire.Result{Result: params.Result{Worker: worker, Step: 3, Shard: shard, Version: 3, Loss: float64(shard), Count: 10, Grads: g, LayoutHash: 1}}
	}
	var wg sync.WaitGroup
	for _, name := range []string{"w1", "w2"} {
		nc := connect(t, s.ClientURL(), ConnectOptions{Name: name})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				if err := nc.Send(subj.Result, result(name, i)); err != nil {
					t.Errorf("%s: Send: %v", name, err)
				}
			}
			if err := nc.Flush(); err != nil {
				t.Errorf("%s: Flush: %v", name, err)
			}
		}()
	}
	wg.Wait()

	seen := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for len(seen) < 2*perWorker {
		select {
		case r := <-got:
			key := fmt.Sprintf("%s/%d", r.Worker, r.Shard)
			if seen[key] {
				t.Fatalf("result %s delivered twice", key)
			}
			seen[key] = true
			if !reflect.DeepEqual(r, result(r.Worker, r.Shard)) {
				t.Fatalf("result %s came back different", key)
			}
		case <-timeout:
			t.Fatalf("received %d of %d results; stats %+v", len(seen), 2*perWorker, sub.Stats())
		}
	}
	if st := sub.Stats(); st.Rejected != 0 || st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("receiver stats %+v, want no losses", st)
	}
}

func TestSubscribeSkipsCorruptPayloadsAndKeepsGoing(t *testing.T) {
	s := startServer(t, ServerOptions{MaxPayload: 4 << 10})
	subj := testSubjects(t)
	nc := connect(t, s.ClientURL(), ConnectOptions{})
	got := make(chan wire.Message, 4)
	sub, err := nc.Subscribe(subj.Heartbeat, func(m wire.Message, _ string) { got <- m }, SubscribeOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := wire.Encode(&wire.Heartbeat{Worker: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	bad[3] ^= 1
	if err := nc.PublishBytes(subj.Heartbeat, bad); err != nil {
		t.Fatal(err)
	}
	if err := nc.Send(subj.Heartbeat, &wire.Heartbeat{Worker: "w2", Step: 9}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if hb, ok := m.(*wire.Heartbeat); !ok || hb.Worker != "w2" || hb.Step != 9 {
			t.Fatalf("delivered %#v, want w2's heartbeat", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("good heartbeat not delivered")
	}
	if st := sub.Stats(); st.Rejected != 1 || st.Messages != 1 {
		t.Fatalf("stats %+v, want 1 rejected, 1 message", st)
	}
}

func TestRequestWithoutResponderFailsFast(t *testing.T) {
	s := startServer(t, ServerOptions{})
	nc := connect(t, s.ClientURL(), ConnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := nc.Request(ctx, testSubjects(t).Work, &wire.WorkRequest{Worker: "w"})
	if !errors.Is(err, ErrNoResponders) {
		t.Fatalf("err = %v, want ErrNoResponders", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("no-responders took %v", time.Since(start))
	}
}

// silentResponder starts a server where a client subscribes to subject and
// never answers, and returns another client of it.
func silentResponder(t *testing.T, subject string) *Conn {
	t.Helper()
	s := startServer(t, ServerOptions{})
	coord := connect(t, s.ClientURL(), ConnectOptions{})
	if _, err := coord.Subscribe(subject, func(wire.Message, string) {}, SubscribeOptions{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		t.Fatal(err)
	}
	return connect(t, s.ClientURL(), ConnectOptions{})
}

func TestRequestGivesUpWhenContextEnds(t *testing.T) {
	subj := testSubjects(t)
	nc := silentResponder(t, subj.Work)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := nc.Request(ctx, subj.Work, &wire.WorkRequest{Worker: "w"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestWorkRequestRepliesWithLeaseWaitOrDone(t *testing.T) {
	s := startServer(t, ServerOptions{})
	subj := testSubjects(t)
	coord := connect(t, s.ClientURL(), ConnectOptions{})
	replies := []wire.Message{
		&wire.Lease{Step: 1, Shard: 2, Version: 1, Timeout: time.Second, Batch: params.Batch{Kind: 3, Size: 2, Pixels: make([]byte, 12), Labels: []int32{1, 1, 2}}},
		&wire.Wait{RetryAfter: time.Second},
		&wire.Done{FinalVersion: 1},
	}
	var mu sync.Mutex
	next := 0
	if _, err := coord.Subscribe(subj.Work, func(_ wire.Message, reply string) {
		mu.Lock()
		r := replies[next%len(replies)]
		next++
		mu.Unlock()
		if err := coord.Send(reply, r); err != nil {
			t.Error(err)
		}
	}, SubscribeOptions{Queue: "coord", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, s.ClientURL(), ConnectOptions{})
	for _, want := range replies {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := nc.Request(ctx, subj.Work, &wire.WorkRequest{Worker: "w"})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("reply %#v, want %#v", got, want)
		}
	}
}

func TestTokenAuthGatesEveryClient(t *testing.T) {
	s := startServer(t, ServerOptions{Token: "s3cret-token"})
	tests := []struct {
		name  string
		token string
	}{
		{"no token", ""},
		{"wrong token", "guess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := Connect(s.ClientURL(), ConnectOptions{Token: tt.token, Logger: quiet})
			if err == nil {
				nc.Close()
				t.Fatal("connected without the right token")
			}
			if !errors.Is(err, ErrAuthorization) || !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("err = %v, want ErrAuthorization wrapping nats.ErrAuthorization", err)
			}
		})
	}
	t.Run("right token", func(t *testing.T) {
		nc := connect(t, s.ClientURL(), ConnectOptions{Token: "s3cret-token"})
		subj := testSubjects(t)
		got := make(chan wire.Message, 1)
		if _, err := nc.Subscribe(subj.Ctl, func(m wire.Message, _ string) { got <- m }, SubscribeOptions{Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Send(subj.Ctl, &wire.Ctl{Kind: wire.CtlDrain}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if c, ok := m.(*wire.Ctl); !ok || c.Kind != wire.CtlDrain {
				t.Fatalf("got %#v", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("authenticated publish not delivered")
		}
	})
}

func TestStartServerFailsWhenPortIsTaken(t *testing.T) {
	a := startServer(t, ServerOptions{})
	port := a.Addr().(*net.TCPAddr).Port
	b, err := StartServer(ServerOptions{Port: port, ReadyTimeout: 300 * time.Millisecond})
	if err == nil {
		b.Shutdown()
		t.Fatalf("second server on busy port %d started", port)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("error %q does not name the port", err)
	}
}

func TestStartServerRejectsOutOfRangeMaxPayload(t *testing.T) {
	for _, max := range []int{-1, 65<<20 + 1} {
		if s, err := StartServer(ServerOptions{MaxPayload: max}); err == nil {
			s.Shutdown()
			t.Fatalf("MaxPayload %d accepted", max)
		}
	}
}

func TestRedactHidesCredentials(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://tok@host:4222", "nats://***@host:4222"},
		{"nats://u:p@a:1,tls://x@b:2/path@q", "nats://***@a:1,tls://***@b:2/path@q"},
		{"host:4222", "host:4222"},
		{"tok@host", "***@host"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func itoa(i int) string           { return strconv.Itoa(i) }
func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestPreparedParamsServeManyRequests: a message prepared once and sent with
// SendEncoded to several requesters, chunked, arrives whole every time.
func TestPreparedParamsServeManyRequests(t *testing.T) {
	s := startServer(t, ServerOptions{MaxPayload: 64 << 10})
	subj := testSubjects(t)
	coord := connect(t, s.ClientURL(), ConnectOptions{Name: "coord"})
	worker := connect(t, s.ClientURL(), ConnectOptions{Name: "worker"})
	want := bigParams(3, 200_000)
	enc, err := Prepare(want)
	if err != nil {
		t.Fatal(err)
	}
	_, err = coord.Subscribe(subj.Params, func(_ wire.Message, reply string) {
		if err := coord.SendEncoded(reply, enc); err != nil {
			t.Errorf("SendEncoded: %v", err)
		}
	}, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := worker.Request(ctx, subj.Params, &wire.ParamsRequest{Version: 3})
		cancel()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, wire.Message(want)) {
			t.Fatalf("request %d: the prepared Params came back different", i)
		}
	}
}

// TestRequestOfARefusedClientWrapsErrAuthorization: a client that keeps
// retrying with a wrong token (a worker started with --token wrong) learns
// from its requests that retrying will not help.
func TestRequestOfARefusedClientWrapsErrAuthorization(t *testing.T) {
	s := startServer(t, ServerOptions{Token: "s3cret-token"})
	nc := connect(t, s.ClientURL(), ConnectOptions{Token: "guess", RetryOnFailedConnect: true, ReconnectWait: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := nc.Request(ctx, testSubjects(t).Join, &wire.Join{Worker: "w"})
	if !errors.Is(err, ErrAuthorization) {
		t.Fatalf("err = %v, want ErrAuthorization", err)
	}
}

func TestSendOnAClosedConnFailsWithErrClosed(t *testing.T) {
	s := startServer(t, ServerOptions{})
	nc := connect(t, s.ClientURL(), ConnectOptions{})
	nc.Close()
	if err := nc.Send(testSubjects(t).Heartbeat, &wire.Heartbeat{Worker: "w"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if err := nc.PublishBytes(testSubjects(t).Heartbeat, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("PublishBytes: err = %v, want ErrClosed", err)
	}
}

// Incomplete chunked messages on several subjects sharing one receiver
// are bounded together: 2 MiB of them on two subjects never hold more than
// the 256 KiB bound, the oldest go first, and a whole message still
// arrives.
func TestSharedReceiverBoundsIncompleteMessagesAcrossSubjects(t *testing.T) {
	s := startServer(t, ServerOptions{MaxPayload: 16 << 10})
	subj := testSubjects(t)
	nc := connect(t, s.ClientURL(), ConnectOptions{})
	const bound = 256 << 10
	r := wire.NewReceiver(wire.ReceiverOptions{MaxPendingBytes: bound, MaxPendingCount: 1024})
	got := make(chan wire.Message, 1)
	var peak atomic.Int64
	h := func(m wire.Message, _ string) { got <- m }
	for _, subject := range []string{subj.Result, subj.Heartbeat} {
		sub, err := nc.Subscribe(subject, h, SubscribeOptions{Reassembly: r, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() }) //nolint:errcheck
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	rogue := connect(t, s.ClientURL(), ConnectOptions{})
	const part = 8 << 10
	for i := 0; i < 256; i++ { // 256 messages of 3 chunks, each sent without its last two: 2 MiB
		subject := []string{subj.Result, subj.Heartbeat}[i%2]
		parts, err := wire.Split(&wire.Status{Body: make([]byte, 2*part)}, part+wire.ChunkOverhead)
		if err != nil || len(parts) < 2 {
			t.Fatalf("split: %d parts, %v", len(parts), err)
		}
		frame := parts[0]
		if err := rogue.PublishBytes(subject, frame); err != nil {
			t.Fatal(err)
		}
		if i%16 == 15 {
			if err := rogue.Flush(); err != nil {
				t.Fatal(err)
			}
			// pace the flood to the callbacks: NATS itself drops what a
			// subscription queues beyond the bound (a slow consumer)
			for deadline := time.Now().Add(5 * time.Second); r.Stats().Chunks <= i && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			peak.Store(max(peak.Load(), int64(r.Stats().PendingBytes)))
		}
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	whole := &wire.Status{Body: make([]byte, 40<<10)} // chunked: larger than the max payload
	if err := nc.Send(subj.Heartbeat, whole); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if st, ok := m.(*wire.Status); !ok || len(st.Body) != len(whole.Body) {
			t.Fatalf("got %s, want the whole status", m.Type())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the whole message never arrived; stats %+v", r.Stats())
	}
	// the two subjects' callbacks run apart: wait for the other one
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Chunks < 256 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := r.Stats()
	if st.PendingBytes > bound || peak.Load() > bound {
		t.Fatalf("pending %d bytes (peak seen %d), bound %d", st.PendingBytes, peak.Load(), bound)
	}
	if st.Chunks < 256 || st.Dropped < 256-bound/part {
		t.Fatalf("stats %+v: want all 256 first chunks taken and all but %d of their messages evicted", st, bound/part)
	}
}

// TestConcurrentRequestsShareOneReplySubscription: 32 goroutines of one
// connection ask at once for different parameter versions, each chunked
// into many payloads by a 64 KB server; each gets its own version whole,
// and the connection holds one reply subscription (plus none per request)
// however many requests it made.
func TestConcurrentRequestsShareOneReplySubscription(t *testing.T) {
	s := startServer(t, ServerOptions{MaxPayload: 64 << 10})
	subj := testSubjects(t)
	coord := connect(t, s.ClientURL(), ConnectOptions{})
	const n = 100_000 // 400 KB: 7 chunks
	serveParams(t, coord, subj.Params, 0, n)
	worker := connect(t, s.ClientURL(), ConnectOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(v uint64) {
			defer wg.Done()
			for round := 0; round < 3; round++ {
				got, err := worker.Request(ctx, subj.Params, &wire.ParamsRequest{Version: v})
				if err != nil {
					t.Errorf("version %d: %v", v, err)
					return
				}
				if !reflect.DeepEqual(got, wire.Message(bigParams(v, n))) {
					t.Errorf("version %d: another reply came back", v)
					return
				}
			}
		}(uint64(g + 1))
	}
	wg.Wait()
	if got := worker.nc.NumSubscriptions(); got != 1 {
		t.Errorf("after 96 requests the connection holds %d subscriptions, want 1", got)
	}
	worker.replies.mu.Lock()
	left := len(worker.replies.waiting)
	worker.replies.mu.Unlock()
	if left != 0 {
		t.Errorf("%d requests still registered after all returned", left)
	}
}

// TestCloseFailsAWaitingRequestAtOnce: a request waiting for a reply that
// will never come ends with ErrClosed as soon as its connection closes,
// not at its deadline.
func TestCloseFailsAWaitingRequestAtOnce(t *testing.T) {
	subj := testSubjects(t)
	nc := silentResponder(t, subj.Work)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := nc.Request(ctx, subj.Work, &wire.WorkRequest{Worker: "w"})
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	nc.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request still waits 5 s after Close")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("request ended %v after Close", d)
	}
}
