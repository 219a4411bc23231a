package transport

import (
	"errors"

	"github.com/nats-io/nats.go"
)

// natsError is an error of the NATS client that also matches the wire
// sentinel it stands for; its text is the client's.
type natsError struct {
	sentinel, err error
}

func (e *natsError) Error() string   { return e.err.Error() }
func (e *natsError) Unwrap() []error { return []error{e.sentinel, e.err} }

// fromNATS makes err, from the NATS client, match ErrAuthorization,
// ErrNoResponders or ErrClosed when it is one of those conditions; other
// errors come back as they are. It allocates only on those errors.
func fromNATS(err error) error {
	var s error
	switch {
	case err == nil:
		return nil
	case isAuth(err):
		s = ErrAuthorization
	case errors.Is(err, nats.ErrNoResponders):
		s = ErrNoResponders
	case errors.Is(err, nats.ErrConnectionClosed):
		s = ErrClosed
	default:
		return err
	}
	if errors.Is(err, s) {
		return err
	}
	return &natsError{sentinel: s, err: err}
}

// isAuth reports whether err is the server refusing credentials.
func isAuth(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired)
}
