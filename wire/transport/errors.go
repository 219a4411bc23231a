package transport

import "errors"

// Errors of the connection, which callers branch on instead of the NATS
// client's own. Each error that carries one also matches the NATS client
// error it stands for.
var (
	// ErrAuthorization means the server refused the connection's
	// credentials (token, user credentials or TLS identity), or they
	// expired: retrying with the same ones will not help.
	ErrAuthorization = errors.New("not authorized")
	// ErrNoResponders means a request found nobody subscribed to its
	// subject: the other side is not running (yet).
	ErrNoResponders = errors.New("no responders")
	// ErrClosed means the connection was closed with Close; nothing more can
	// be sent or received on it.
	ErrClosed = errors.New("connection closed")
)
