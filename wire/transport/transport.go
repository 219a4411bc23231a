package transport

import (
	"context"
	"errors"
	"fmt"
	"github.com/fsl-project/fsl/wire"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Send publishes m on subject, split into chunks on the same subject when it
// exceeds the connection's max payload. Chunks of one message go out in
// order from one connection, and NATS keeps that order per publisher. Send
// returns once the payloads are buffered, not when they reach the server
// (see Flush); on a closed connection it fails with ErrClosed.
func (c *Conn) Send(subject string, m wire.Message) error {
	return c.publish(subject, "", m)
}

// Encoded is a message encoded once to be sent many times, such as one
// parameter version every worker asks for. It is immutable.
type Encoded struct {
	typ wire.Type
	b   []byte
}

// Prepare encodes m for Conn.SendEncoded.
func Prepare(m wire.Message) (*Encoded, error) {
	b, err := wire.Encode(m)
	if err != nil {
		return nil, err
	}
	return &Encoded{typ: m.Type(), b: b}, nil
}

// SendEncoded publishes a prepared message on subject, chunked like Send,
// without encoding it again.
func (c *Conn) SendEncoded(subject string, e *Encoded) error {
	return c.publishEncoded(subject, "", e.typ, e.b)
}

// PublishBytes publishes payload on subject as it is, neither framed nor
// chunked: for tests and tools that must put bytes on a subject that no
// Message encodes to (a corrupted frame). Receivers count and drop what does
// not decode.
func (c *Conn) PublishBytes(subject string, payload []byte) error {
	if err := c.nc.Publish(subject, payload); err != nil {
		return fmt.Errorf("transport: publish %d bytes on %q: %w", len(payload), subject, fromNATS(err))
	}
	return nil
}

// encodeBufs recycles publish's encoding buffers: nats.go copies a
// payload into its own buffer before Publish returns, so the encoding is
// garbage at once, and a result of a Conv-4 is 450 KB.
var encodeBufs sync.Pool

func (c *Conn) publish(subject, reply string, m wire.Message) error {
	var buf []byte
	if b, ok := encodeBufs.Get().(*[]byte); ok {
		buf = (*b)[:0]
	}
	enc, err := wire.AppendEncode(buf, m)
	if err != nil {
		return err
	}
	err = c.publishEncoded(subject, reply, m.Type(), enc)
	encodeBufs.Put(&enc)
	return err
}

func (c *Conn) publishEncoded(subject, reply string, t wire.Type, enc []byte) error {
	nc := c.nc
	max := int(nc.MaxPayload())
	if max <= 0 {
		if nc.IsClosed() {
			return fmt.Errorf("transport: send %s on %q: %w", t, subject, ErrClosed)
		}
		return fmt.Errorf("transport: send %s on %q: not connected to NATS (%s)", t, subject, strings.ToLower(nc.Status().String()))
	}
	err := wire.EachPayload(enc, max, t, func(p []byte) error {
		if reply == "" {
			return nc.Publish(subject, p)
		}
		return nc.PublishRequest(subject, reply, p)
	})
	if err != nil {
		return fmt.Errorf("transport: send %s on %q: %w", t, subject, fromNATS(err))
	}
	return nil
}

// Request sends m on subject with a fresh inbox as the reply subject and
// returns the first whole message that arrives there, reassembling chunks.
// An Error reply is returned as the error (errors.Is matches ErrStaleVersion,
// ErrNotFound, ErrRejected). With no subscriber on subject it fails with
// ErrNoResponders. It waits until ctx is done: give ctx a deadline. When it
// fails while the server refuses the connection's credentials (a connection
// made with RetryOnFailedConnect and a wrong token), the error also wraps
// ErrAuthorization, so the caller can stop retrying.
func (c *Conn) Request(ctx context.Context, subject string, m wire.Message) (wire.Message, error) {
	reply, err := c.request(ctx, subject, m)
	if err != nil {
		if auth := c.authError(); auth != nil {
			return nil, fmt.Errorf("%w (%w)", err, auth)
		}
		return nil, err
	}
	return reply, nil
}

func (c *Conn) request(ctx context.Context, subject string, m wire.Message) (wire.Message, error) {
	r := wire.NewReceiver(wire.ReceiverOptions{})
	if err := c.replies.start(c.nc, r.Options().MaxPendingBytes); err != nil {
		return nil, fmt.Errorf("transport: request %s on %q: %w", m.Type(), subject, err)
	}
	inbox, w := c.replies.open()
	defer c.replies.closeWaiter(inbox, w)
	if err := c.publish(subject, inbox, m); err != nil {
		return nil, err
	}
	for {
		var msg *nats.Msg
		select {
		case msg = <-w.ch:
		case <-c.replies.closed:
			return nil, fmt.Errorf("transport: request %s on %q: %w", m.Type(), subject, ErrClosed)
		case <-ctx.Done():
			return nil, fmt.Errorf("transport: request %s on %q: waiting for the reply: %w", m.Type(), subject, ctx.Err())
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
			return nil, fmt.Errorf("transport: request %s on %q: %w", m.Type(), subject, ErrNoResponders)
		}
		reply, err := r.Feed(msg.Data, time.Now())
		if err != nil {
			return nil, fmt.Errorf("transport: request %s on %q: reply: %w", m.Type(), subject, err)
		}
		if reply == nil {
			continue
		}
		if e, ok := reply.(*wire.Error); ok {
			return nil, fmt.Errorf("transport: request %s on %q: %w", m.Type(), subject, e)
		}
		return reply, nil
	}
}

// Handler receives each whole message of a subscription, with the reply
// subject of its last payload ("" for plain publishes); answer with
// Conn.Send on that subject.
type Handler func(m wire.Message, reply string)

// SubscribeOptions configure Conn.Subscribe. The zero value subscribes plainly
// with default receiver bounds and logs bad payloads to slog.Default().
type SubscribeOptions struct {
	// Queue, when set, joins a queue group so only one member gets each
	// payload. All chunks of a message must reach one member, so use it
	// only for messages that fit one payload (requests, not results).
	Queue string
	// Receiver bounds reassembly.
	Receiver wire.ReceiverOptions
	// Reassembly, when set, is the Receiver to reassemble with instead of
	// one made from Receiver: several subscriptions sharing one are bounded
	// together (ReceiverOptions.MaxPendingBytes holds across all their
	// subjects, and a new message evicts the oldest incomplete one of any
	// of them), and Subscription.Stats reports all of them.
	Reassembly *wire.Receiver
	// Logger logs payloads that fail to decode (at Warn); nil is
	// slog.Default().
	Logger *slog.Logger
	// Limiter bounds those lines per (reason, subject): the first few per
	// interval, then one summary, written with the next bad payload after
	// the interval, or by whoever calls Limiter.Due. nil is a limiter of
	// this subscription's own with the default bounds.
	Limiter *wire.LogLimiter
}

// badReason names the class of a payload that failed to decode, for
// limiting and summarising log lines.
func badReason(err error) string {
	for _, s := range []error{wire.ErrChecksum, wire.ErrMalformed, wire.ErrUnknownType, wire.ErrProtocolVersion, wire.ErrTooLarge} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "other"
}

// Subscription is a subscription made by Conn.Subscribe.
type Subscription struct {
	sub *nats.Subscription
	r   *wire.Receiver
}

// Unsubscribe stops delivery.
func (s *Subscription) Unsubscribe() error { return fromNATS(s.sub.Unsubscribe()) }

// Stats returns the reassembly counters: dropped and rejected payloads.
func (s *Subscription) Stats() wire.ReceiverStats { return s.r.Stats() }

// Subscribe calls h with every whole message published on subject,
// reassembling chunks. Bad payloads are counted and logged, never passed to
// h. h runs on the subscription's goroutine, one message at a time.
func (c *Conn) Subscribe(subject string, h Handler, opts SubscribeOptions) (*Subscription, error) {
	nc := c.nc
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	lim := opts.Limiter
	if lim == nil {
		lim = &wire.LogLimiter{}
	}
	r := opts.Reassembly
	if r == nil {
		r = wire.NewReceiver(opts.Receiver)
	}
	cb := func(msg *nats.Msg) {
		now := time.Now()
		m, err := r.Feed(msg.Data, now)
		if err != nil {
			// Keyed per (subject, reason), not per sender: core NATS does
			// not tell a subscriber who published a message, and the
			// payload that would name its worker failed to decode (and
			// would be the sender's own claim). The reply subject is the
			// sender's choice too. So one flooding client shares its
			// budget with every other sender of that subject and reason;
			// the summary still counts them all.
			ok, sum := lim.Allow("bad payloads on "+msg.Subject+": "+badReason(err), now)
			if sum.Dropped > 0 {
				log.Warn(sum.String())
			}
			if ok {
				log.Warn("transport: dropped bad payload", "subject", msg.Subject, "bytes", len(msg.Data), "err", err)
			}
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
		return nil, fmt.Errorf("transport: subscribe to %q: %w", subject, fromNATS(err))
	}
	if err := sub.SetPendingLimits(-1, r.Options().MaxPendingBytes); err != nil {
		return nil, errors.Join(fmt.Errorf("transport: subscribe to %q: %w", subject, err), sub.Unsubscribe())
	}
	return &Subscription{sub: sub, r: r}, nil
}
