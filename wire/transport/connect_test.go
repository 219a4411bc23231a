package transport

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/wire"
)

// waitConnected polls nc until it is connected, for at most limit.
func waitConnected(t *testing.T, c *Conn, limit time.Duration) {
	nc := c.nc
	t.Helper()
	deadline := time.Now().Add(limit)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("not connected after %v (status %v)", limit, nc.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
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

func TestClientReconnectsAfterServerRestartAndKeepsSubscriptions(t *testing.T) {
	a, err := StartServer(ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := a.Addr().(*net.TCPAddr).Port
	nc := connect(t, a.ClientURL(), ConnectOptions{ReconnectWait: 50 * time.Millisecond})
	subj := testSubjects(t)
	got := make(chan wire.Message, 4)
	if _, err := nc.Subscribe(subj.Ctl, func(m wire.Message, _ string) { got <- m }, SubscribeOptions{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	a.Shutdown()

	b := startServer(t, ServerOptions{Port: port})
	waitConnected(t, nc, 10*time.Second)
	pub := connect(t, b.ClientURL(), ConnectOptions{})
	// The subscription is re-sent on reconnect; flush nc so the server has
	// it before publishing.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(subj.Ctl, &wire.Ctl{Kind: wire.CtlDone, FinalVersion: 5}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if c, ok := m.(*wire.Ctl); !ok || c.FinalVersion != 5 {
			t.Fatalf("got %#v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not survive the reconnect")
	}
}

func TestRetryOnFailedConnectWaitsForALateServer(t *testing.T) {
	port := freePort(t)
	nc, err := Connect("nats://127.0.0.1:"+itoa(port), ConnectOptions{RetryOnFailedConnect: true, ReconnectWait: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatalf("Connect with retry and no server: %v", err)
	}
	t.Cleanup(nc.Close)
	if nc.nc.IsConnected() {
		t.Fatal("connected with no server running")
	}
	startServer(t, ServerOptions{Port: port})
	waitConnected(t, nc, 10*time.Second)
}

func TestConnectWithoutRetryFailsWhenNoServer(t *testing.T) {
	port := freePort(t)
	nc, err := Connect("nats://tok@127.0.0.1:"+itoa(port), ConnectOptions{Logger: quiet, Timeout: time.Second})
	if err == nil {
		nc.Close()
		t.Fatal("connected to nothing")
	}
	if s := err.Error(); !contains(s, "***@127.0.0.1") || contains(s, "tok@") {
		t.Fatalf("error %q should name the redacted URL", s)
	}
}

// TestStartServerChecksItsLimits: out-of-range payload and pending limits
// are errors that name the option, before any port is taken.
func TestStartServerChecksItsLimits(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts ServerOptions
		want string
	}{
		{"negative max payload", ServerOptions{MaxPayload: -1}, "max payload"},
		{"max payload over 64 MiB", ServerOptions{MaxPayload: 64<<20 + 1}, "max payload"},
		{"negative max pending", ServerOptions{MaxPending: -1}, "max pending"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := StartServer(tt.opts)
			if err == nil {
				srv.Shutdown()
				t.Fatalf("started with %+v", tt.opts)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name %q", err, tt.want)
			}
		})
	}
}
