package transport

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultReadyTimeout is how long StartServer waits for the embedded server
// to accept connections when ServerOptions.ReadyTimeout is zero.
const DefaultReadyTimeout = 10 * time.Second

// ServerOptions configure the embedded NATS server. The zero value listens on
// 127.0.0.1 at a random port, without auth or TLS, with NATS's 1 MB max
// payload.
type ServerOptions struct {
	// Host is the interface to listen on; "" is 127.0.0.1. Use "0.0.0.0"
	// for workers on other machines, together with a Token or TLS client
	// certificates (TLS alone encrypts but admits anyone).
	Host string
	// Port is the client port; 0 picks a free one (see Server.ClientURL).
	Port int
	// Token, when set, is required of every client: without it a client
	// cannot connect, so it can neither read nor write any subject; with it
	// a client can do anything on every subject.
	Token string
	// Users, when set instead of Token, are the only clients admitted, each
	// by its NKey and limited to its Role's subjects (see WriteAuth).
	Users []User
	// TLS, when set, makes the server require TLS with this config on its
	// socket (in-process connections do none); ClientAuth
	// tls.RequireAndVerifyClientCert with ClientCAs requires client
	// certificates.
	TLS *tls.Config
	// MaxPayload is the largest payload in bytes the server accepts; 0 is
	// NATS's default (1 MB). Larger messages are chunked by Send.
	MaxPayload int
	// MaxPending is how many bytes the server queues for one client that
	// reads slower than messages come before it disconnects it as a slow
	// consumer; 0 is DefaultMaxPending. A coordinator takes a burst of
	// results at once (every shard of its open steps, with backups: 2·(k+1)·S
	// of them at pipeline depth k), and a disconnect loses them all until
	// their leases expire.
	MaxPending int
	// ReadyTimeout bounds the wait for the server to accept connections; 0
	// is DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Logger receives the server's log lines; nil disables them.
	Logger *slog.Logger
}

// DefaultMaxPending is the embedded server's ServerOptions.MaxPending:
// four times NATS's own default (64 MiB), so that a coordinator's burst of
// 64 shards' Conv-4 results at pipeline depth 1, with their backups (about
// 115 MB), never makes the server drop its connection.
const DefaultMaxPending = 256 << 20

// Server is a running embedded NATS server. Pass it as
// ConnectOptions.InProcess to connect to it in memory, without a socket.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded NATS server and returns once it accepts
// client connections, or fails when it does not within the ready timeout.
func StartServer(opts ServerOptions) (*Server, error) {
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if opts.MaxPayload < 0 || opts.MaxPayload > 64<<20 {
		return nil, fmt.Errorf("transport: start NATS server: max payload %d out of range 0..%d", opts.MaxPayload, 64<<20)
	}
	if opts.MaxPending < 0 {
		return nil, fmt.Errorf("transport: start NATS server: max pending %d, want 0 (default) or more", opts.MaxPending)
	}
	maxPending := int64(opts.MaxPending)
	if maxPending == 0 {
		maxPending = DefaultMaxPending
	}
	if opts.Token != "" && len(opts.Users) > 0 {
		return nil, fmt.Errorf("transport: start NATS server: a token and role credentials both given; use one")
	}
	nopts := &server.Options{
		Host:          host,
		Port:          port,
		Authorization: opts.Token,
		MaxPayload:    int32(opts.MaxPayload),
		MaxPending:    maxPending,
		NoSigs:        true,
		NoLog:         opts.Logger == nil,
	}
	if len(opts.Users) > 0 {
		users, err := nkeyUsers(opts.Users)
		if err != nil {
			return nil, fmt.Errorf("transport: start NATS server: %w", err)
		}
		nopts.Nkeys = users
	}
	if opts.TLS != nil {
		nopts.TLS = true
		nopts.TLSConfig = opts.TLS
		nopts.TLSTimeout = 5
	}
	addr := net.JoinHostPort(host, strconv.Itoa(opts.Port))
	ns, err := server.NewServer(nopts)
	if err != nil {
		return nil, fmt.Errorf("transport: start NATS server on %s: %w", addr, err)
	}
	if opts.Logger != nil {
		ns.SetLogger(slogAdapter{opts.Logger}, false, false)
	}
	go ns.Start()
	wait := opts.ReadyTimeout
	if wait <= 0 {
		wait = DefaultReadyTimeout
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("transport: start NATS server on %s: not accepting connections after %v (port in use?)", addr, wait)
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the URL clients connect to, with the port actually bound
// ("nats://127.0.0.1:41234", or tls://... when TLS is on).
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Addr is the client listener's address.
func (s *Server) Addr() net.Addr { return s.ns.Addr() }

// Shutdown stops the server, closes its client connections and waits until
// it has stopped. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// slogAdapter routes nats-server's log lines to slog.
type slogAdapter struct{ l *slog.Logger }

// Noticef lines (listening, starting) are the server's routine chatter:
// debug level, so a coordinator's log shows the server's warnings and
// errors (a client's permissions violation, say) and not its start-up.
func (a slogAdapter) Noticef(format string, v ...any) {
	a.l.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (a slogAdapter) Warnf(format string, v ...any) {
	a.l.Warn(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (a slogAdapter) Fatalf(format string, v ...any) {
	a.l.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (a slogAdapter) Errorf(format string, v ...any) {
	a.l.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (a slogAdapter) Debugf(format string, v ...any) {
	a.l.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}
func (a slogAdapter) Tracef(format string, v ...any) {
	a.l.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}
