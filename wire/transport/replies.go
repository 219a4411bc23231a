package transport

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
)

// replies routes the replies to a connection's requests. One subscription,
// on inbox.*, made at the first request, serves them all; each request
// waits on its own subject inbox.N. A request of its own inbox would cost
// a SUB and an UNSUB round on the server and nats.go's 64K-message channel
// per request: at hundreds of work requests a second, that was most of a
// worker's time.
type replies struct {
	once   sync.Once
	err    error
	prefix string
	sub    *nats.Subscription

	mu      sync.Mutex
	next    uint64
	waiting map[string]*waiter

	// closed is closed with the connection, so that waiting requests fail
	// at once rather than at their deadline.
	closed    chan struct{}
	closeOnce sync.Once
}

func newReplies() *replies { return &replies{closed: make(chan struct{})} }

// shut fails every request waiting now and later.
func (r *replies) shut() { r.closeOnce.Do(func() { close(r.closed) }) }

// waiter is one request's mailbox. Chunked replies come as several
// payloads; done tells the router to stop blocking once the request has
// given up.
type waiter struct {
	ch   chan *nats.Msg
	done chan struct{}
}

// start subscribes to the connection's reply subjects once.
func (r *replies) start(nc *nats.Conn, maxPendingBytes int) error {
	r.once.Do(func() {
		r.prefix = nc.NewInbox()
		r.waiting = make(map[string]*waiter)
		sub, err := nc.Subscribe(r.prefix+".*", r.route)
		if err == nil {
			err = sub.SetPendingLimits(-1, maxPendingBytes)
		}
		if err != nil {
			r.err = fmt.Errorf("subscribe to reply inboxes: %w", fromNATS(err))
			return
		}
		r.sub = sub
	})
	return r.err
}

// open registers a new reply subject and returns it with its mailbox; close
// it with closeWaiter.
func (r *replies) open() (string, *waiter) {
	w := &waiter{ch: make(chan *nats.Msg, 4), done: make(chan struct{})}
	r.mu.Lock()
	r.next++
	subject := r.prefix + "." + strconv.FormatUint(r.next, 36)
	r.waiting[subject] = w
	r.mu.Unlock()
	return subject, w
}

func (r *replies) closeWaiter(subject string, w *waiter) {
	r.mu.Lock()
	delete(r.waiting, subject)
	r.mu.Unlock()
	close(w.done)
}

// route hands a reply to its request; replies to requests that have given
// up (or never were) are dropped.
func (r *replies) route(m *nats.Msg) {
	r.mu.Lock()
	w := r.waiting[m.Subject]
	r.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.ch <- m:
	case <-w.done:
	}
}
