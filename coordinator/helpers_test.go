package coordinator

import (
	"testing"
	"time"

	"github.com/fsl-project/fsl/wire/transport"
)

// t0 is the tests' epoch; at(d) is d after it.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// EmbeddedConn starts an embedded NATS server and connects to it with
// opts; both close when the test ends (exported to the external tests too).
func EmbeddedConn(t *testing.T, opts transport.ConnectOptions) (*transport.Server, *transport.Conn) {
	t.Helper()
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := transport.Connect(srv.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return srv, nc
}
