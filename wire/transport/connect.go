package transport

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Connection defaults, used for zero ConnectOptions fields.
const (
	DefaultReconnectWait    = time.Second
	DefaultReconnectBufSize = 64 << 20
	DefaultConnectTimeout   = 5 * time.Second
)

// ConnectOptions configure Connect. The zero value connects without auth or
// TLS and reconnects forever.
type ConnectOptions struct {
	// Name identifies the client in the server's monitoring.
	Name string
	// Token is the server's shared auth token.
	Token string
	// CredsFile is a NATS user credentials file (JWT and NKey seed), for
	// servers that use decentralised auth instead of a token.
	CredsFile string
	// NKeyFile is the seed file of a role's NKey (AuthDir.Seed), for servers
	// that admit clients by role (ServerOptions.Users). It needs Role.
	NKeyFile string
	// Role is the role whose credentials the client holds: its replies
	// then arrive under Role.Inbox, the only reply subjects the role may
	// read. Empty: nats.go's shared _INBOX (a token, or a server without
	// roles).
	Role Role
	// TLS, when set, is used for a TLS connection (RootCAs to trust a
	// private CA, Certificates for client certificates).
	TLS *tls.Config
	// ReconnectWait is the pause between reconnect attempts; 0 is
	// DefaultReconnectWait.
	ReconnectWait time.Duration
	// ReconnectBufSize is the bytes published while disconnected that are
	// kept and flushed on reconnect; 0 is DefaultReconnectBufSize.
	ReconnectBufSize int
	// Timeout bounds each connection attempt; 0 is DefaultConnectTimeout.
	Timeout time.Duration
	// RetryOnFailedConnect makes Connect return at once when the server is
	// not reachable yet and keep trying in the background (a worker started
	// before its coordinator).
	RetryOnFailedConnect bool
	// Logger receives disconnect, reconnect and error events; nil is
	// slog.Default().
	Logger *slog.Logger
	// InProcess, when set, connects to that embedded server in memory,
	// without a socket: a coordinator and its local workers in one process.
	// url is then only named in errors, and TLS is not used (the server
	// does none in memory), even when the server requires it on its socket.
	InProcess *Server
}

// Conn is a connection to a NATS server that speaks fsl's protocol: Send,
// Request and Subscribe carry Messages, chunked when they exceed the
// server's max payload. Callers never see the NATS client underneath. A Conn
// is safe for concurrent use; make one with Connect.
type Conn struct {
	nc      *nats.Conn
	replies *replies
}

// Connect connects to the NATS server(s) at url (comma-separated URLs for a
// cluster) and reconnects forever after losing the connection, buffering
// publishes meanwhile. A server that refuses the credentials gives an error
// wrapping ErrAuthorization; errors never show credentials in url.
func Connect(url string, opts ConnectOptions) (*Conn, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	wait := opts.ReconnectWait
	if wait <= 0 {
		wait = DefaultReconnectWait
	}
	buf := opts.ReconnectBufSize
	if buf <= 0 {
		buf = DefaultReconnectBufSize
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	c := &Conn{replies: newReplies()}
	nopts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectBufSize(buf),
		nats.Timeout(timeout),
		nats.RetryOnFailedConnect(opts.RetryOnFailedConnect),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil { // a deliberate Close, not a lost connection
				return
			}
			log.Warn("nats disconnected", "name", opts.Name, "url", nc.ConnectedUrlRedacted(), "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "name", opts.Name, "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			c.replies.shut()
			log.Debug("nats connection closed", "name", opts.Name, "err", nc.LastError())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("nats async error", "name", opts.Name, "subject", subject, "err", err)
		}),
	}
	if opts.Name != "" {
		nopts = append(nopts, nats.Name(opts.Name))
	}
	if opts.Token != "" {
		nopts = append(nopts, nats.Token(opts.Token))
	}
	if opts.CredsFile != "" {
		nopts = append(nopts, nats.UserCredentials(opts.CredsFile))
	}
	if opts.Role != "" {
		if _, _, err := opts.Role.Permissions(); err != nil {
			return nil, fmt.Errorf("transport: connect to NATS at %s: %w", redact(url), err)
		}
		nopts = append(nopts, nats.CustomInboxPrefix(opts.Role.Inbox()))
	}
	if opts.NKeyFile != "" {
		if opts.Role == "" {
			return nil, fmt.Errorf("transport: connect to NATS at %s: an NKey seed (%s) needs its role (ConnectOptions.Role): replies arrive on the role's inbox", redact(url), opts.NKeyFile)
		}
		o, err := nats.NkeyOptionFromSeed(opts.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("transport: connect to NATS at %s: NKey seed: %w", redact(url), err)
		}
		nopts = append(nopts, o)
	}
	dial := url
	switch {
	case opts.InProcess != nil:
		// In memory there is nothing to encrypt and the server does no TLS
		// there: a TLS client (TLS set, or the tls:// URL of a TLS server)
		// would wait for a handshake that never comes.
		nopts = append(nopts, nats.InProcessServer(opts.InProcess.ns))
		if rest, ok := strings.CutPrefix(url, "tls://"); ok {
			dial = "nats://" + rest
		}
	case opts.TLS != nil:
		nopts = append(nopts, nats.Secure(opts.TLS))
	}
	nc, err := nats.Connect(dial, nopts...)
	if err != nil {
		return nil, fmt.Errorf("transport: connect to NATS at %s: %w", redact(url), fromNATS(err))
	}
	c.nc = nc
	return c, nil
}

// Close closes the connection: subscriptions end and later calls fail with
// ErrClosed. Publishes still buffered are dropped, so Flush first to be sure
// they reached the server. It is safe to call more than once.
func (c *Conn) Close() {
	c.nc.Close()
	c.replies.shut()
}

// Flush waits until the server has processed everything sent on c so far:
// subscriptions made before it are then live on the server, and publishes
// made before it have reached it. It gives up after 10 seconds.
func (c *Conn) Flush() error {
	if err := c.nc.Flush(); err != nil {
		return fmt.Errorf("transport: flush: %w", fromNATS(err))
	}
	return nil
}

// authError returns the server's refusal of c's credentials, wrapping
// ErrAuthorization, when that is what the connection last failed with, and
// nil otherwise.
func (c *Conn) authError() error {
	if last := c.nc.LastError(); last != nil && isAuth(last) {
		return fromNATS(last)
	}
	return nil
}

// redact hides credentials (user info: a token or user:password) in each
// URL of a comma-separated list, so errors and logs never show them.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		host := u
		scheme := ""
		if k := strings.Index(u, "://"); k >= 0 {
			scheme, host = u[:k+3], u[k+3:]
		}
		end := len(host)
		if k := strings.IndexByte(host, '/'); k >= 0 {
			end = k
		}
		if at := strings.LastIndexByte(host[:end], '@'); at >= 0 {
			parts[i] = scheme + "***@" + host[at+1:]
		}
	}
	return strings.Join(parts, ",")
}
