package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
)

// Send publishes m on subject, split into chunks on the same subject when it
// exceeds the connection's max payload. Chunks of one message go out in
// order from one connection, and NATS keeps that order per publisher.
func Send(nc *nats.Conn, subject string, m Message) error {
	return publish(nc, subject, "", m)
}

// Encoded is a message encoded once to be sent many times, such as one
// parameter version every worker asks for. It is immutable.
type Encoded struct {
	typ Type
	b   []byte
}

// Prepare encodes m for SendEncoded.
func Prepare(m Message) (*Encoded, error) {
	b, err := Encode(m)
	if err != nil {
		return nil, err
	}
	return &Encoded{typ: m.Type(), b: b}, nil
}

// SendEncoded publishes a prepared message on subject, chunked like Send.
func SendEncoded(nc *nats.Conn, subject string, e *Encoded) error {
	return publishEncoded(nc, subject, "", e.typ, e.b)
}

func publish(nc *nats.Conn, subject, reply string, m Message) error {
	enc, err := Encode(m)
	if err != nil {
		return err
	}
	return publishEncoded(nc, subject, reply, m.Type(), enc)
}

func publishEncoded(nc *nats.Conn, subject, reply string, t Type, enc []byte) error {
	max := int(nc.MaxPayload())
	if max <= 0 {
		return fmt.Errorf("wire: send %s on %q: connection reports no max payload (status %v)", t, subject, nc.Status())
	}
	err := eachPayload(enc, max, t, func(p []byte) error {
		if reply == "" {
			return nc.Publish(subject, p)
		}
		return nc.PublishRequest(subject, reply, p)
	})
	if err != nil {
		return fmt.Errorf("wire: send %s on %q: %w", t, subject, err)
	}
	return nil
}

// Request sends m on subject with a fresh inbox as the reply subject and
// returns the first whole message that arrives there, reassembling chunks.
// An Error reply is returned as the error (errors.Is matches ErrStaleVersion,
// ErrNotFound, ErrRejected). With no subscriber on subject it fails with
// nats.ErrNoResponders. It waits until ctx is done: give ctx a deadline.
func Request(ctx context.Context, nc *nats.Conn, subject string, m Message) (Message, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("wire: request %s on %q: subscribe to reply inbox: %w", m.Type(), subject, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // nothing to do about a failed unsubscribe of a private inbox
	r := NewReceiver(ReceiverOptions{})
	if err := sub.SetPendingLimits(-1, r.opts.MaxPendingBytes); err != nil {
		return nil, fmt.Errorf("wire: request %s on %q: %w", m.Type(), subject, err)
	}
	if err := publish(nc, subject, inbox, m); err != nil {
		return nil, err
	}
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("wire: request %s on %q: waiting for the reply: %w", m.Type(), subject, err)
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
			return nil, fmt.Errorf("wire: request %s on %q: %w", m.Type(), subject, nats.ErrNoResponders)
		}
		reply, err := r.Add(msg)
		if err != nil {
			return nil, fmt.Errorf("wire: request %s on %q: reply: %w", m.Type(), subject, err)
		}
		if reply == nil {
			continue
		}
		if e, ok := reply.(*Error); ok {
			return nil, fmt.Errorf("wire: request %s on %q: %w", m.Type(), subject, e)
		}
		return reply, nil
	}
}

// Handler receives each whole message of a subscription, with the reply
// subject of its last payload ("" for plain publishes); answer with Send on
// that subject.
type Handler func(m Message, reply string)

// SubscribeOptions configure Subscribe. The zero value subscribes plainly
// with default receiver bounds and logs bad payloads to slog.Default().
type SubscribeOptions struct {
	// Queue, when set, joins a queue group so only one member gets each
	// payload. All chunks of a message must reach one member, so use it
	// only for messages that fit one payload (requests, not results).
	Queue string
	// Receiver bounds reassembly.
	Receiver ReceiverOptions
	// Logger logs payloads that fail to decode (at Warn); nil is
	// slog.Default().
	Logger *slog.Logger
}

// Subscription is a subscription made by Subscribe.
type Subscription struct {
	sub *nats.Subscription
	r   *Receiver
}

// Unsubscribe stops delivery.
func (s *Subscription) Unsubscribe() error { return s.sub.Unsubscribe() }

// Drain unsubscribes once the payloads already queued are handled; it
// returns at once, without waiting for them.
func (s *Subscription) Drain() error { return s.sub.Drain() }

// Stats returns the reassembly counters: dropped and rejected payloads.
func (s *Subscription) Stats() ReceiverStats { return s.r.Stats() }

// Subscribe calls h with every whole message published on subject,
// reassembling chunks. Bad payloads are counted and logged, never passed to
// h. h runs on the subscription's goroutine, one message at a time.
func Subscribe(nc *nats.Conn, subject string, h Handler, opts SubscribeOptions) (*Subscription, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	r := NewReceiver(opts.Receiver)
	cb := func(msg *nats.Msg) {
		m, err := r.Add(msg)
		if err != nil {
			log.Warn("wire: dropped bad payload", "subject", msg.Subject, "bytes", len(msg.Data), "err", err)
			return
		}
		if m != nil {
			h(m, msg.Reply)
		}
	}
	var sub *nats.Subscription
	var err error
	if opts.Queue != "" {
		sub, err = nc.QueueSubscribe(subject, opts.Queue, cb)
	} else {
		sub, err = nc.Subscribe(subject, cb)
	}
	if err != nil {
		return nil, fmt.Errorf("wire: subscribe to %q: %w", subject, err)
	}
	if err := sub.SetPendingLimits(-1, r.opts.MaxPendingBytes); err != nil {
		return nil, errors.Join(fmt.Errorf("wire: subscribe to %q: %w", subject, err), sub.Unsubscribe())
	}
	return &Subscription{sub: sub, r: r}, nil
}
