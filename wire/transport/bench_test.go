package transport

import (
	"context"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
)

// conv4Floats is about the parameter count of a Conv-4 backbone (4 blocks of
// 64 3x3 filters): a ~450 KB float32 gradient.
const conv4Floats = 112_000

func conv4Result() *wire.Result {
	g := make(params.Vector, conv4Floats)
	for i := range g {
		g[i] = float32(i) * 1e-6
	}
	return &wire.Result{Result: params.Result{Worker: "w-1", Step: 100, Shard: 7, Version: 100, Loss: 0.5, Count: 60, Grads: g, LayoutHash: 42}}
}

// BenchmarkRequestParams5MB is a worker fetching a 5 MB parameter version
// from a responder through an embedded server with the default 1 MB max
// payload, on loopback.
func BenchmarkRequestParams5MB(b *testing.B) {
	s := startServer(b, ServerOptions{})
	subj := testSubjects(b)
	serveParams(b, connect(b, s.ClientURL(), ConnectOptions{}), subj.Params, 0, 5<<20/4)
	nc := connect(b, s.ClientURL(), ConnectOptions{})
	b.SetBytes(5 << 20)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := nc.Request(ctx, subj.Params, &wire.ParamsRequest{Version: 1})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendResultConv4 is a worker publishing a Conv-4 gradient that a
// subscriber reassembles, through an embedded server with a 64 KB max
// payload (so every result is chunked).
func BenchmarkSendResultConv4(b *testing.B) {
	s := startServer(b, ServerOptions{MaxPayload: 64 << 10})
	subj := testSubjects(b)
	done := make(chan struct{}, 1)
	coord := connect(b, s.ClientURL(), ConnectOptions{})
	if _, err := coord.Subscribe(subj.Result, func(wire.Message, string) { done <- struct{}{} }, SubscribeOptions{Logger: quiet}); err != nil {
		b.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		b.Fatal(err)
	}
	nc := connect(b, s.ClientURL(), ConnectOptions{})
	m := conv4Result()
	b.SetBytes(4 * conv4Floats)
	for b.Loop() {
		if err := nc.Send(subj.Result, m); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatal("result not received")
		}
	}
}

// BenchmarkRoundTrip is the latency of one request and reply through an
// embedded server on loopback, a worker (TCP) asking a coordinator
// (in memory, as start's): a small work request answered with Wait, and
// a Conv-4 result published and received whole (the default 1 MB max
// payload: one payload).
func BenchmarkRoundTrip(b *testing.B) {
	s := startServer(b, ServerOptions{})
	subj := testSubjects(b)
	coord := connect(b, s.ClientURL(), ConnectOptions{InProcess: s})
	got := make(chan struct{}, 1)
	if _, err := coord.Subscribe(subj.Work, func(_ wire.Message, reply string) {
		if err := coord.Send(reply, &wire.Wait{RetryAfter: time.Second}); err != nil {
			b.Error(err)
		}
	}, SubscribeOptions{Logger: quiet}); err != nil {
		b.Fatal(err)
	}
	if _, err := coord.Subscribe(subj.Result, func(wire.Message, string) { got <- struct{}{} }, SubscribeOptions{Logger: quiet}); err != nil {
		b.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		b.Fatal(err)
	}
	nc := connect(b, s.ClientURL(), ConnectOptions{})
	b.Run("work-request", func(b *testing.B) {
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := nc.Request(ctx, subj.Work, &wire.WorkRequest{Worker: "w"})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("result-conv4", func(b *testing.B) {
		m := conv4Result()
		b.SetBytes(int64(4 * conv4Floats))
		for b.Loop() {
			if err := nc.Send(subj.Result, m); err != nil {
				b.Fatal(err)
			}
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				b.Fatal("result not received")
			}
		}
	})
}
