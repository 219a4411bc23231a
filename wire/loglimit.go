package wire

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// LogLimiter defaults, used for zero fields.
const (
	DefaultLogBurst    = 5
	DefaultLogInterval = 10 * time.Second
	DefaultLogKeys     = 64
)

// otherKey collects the events of keys that do not fit the table.
const otherKey = "(other)"

// LogLimiter bounds the log lines a stream of repeated events writes: per
// key (a reason and a sender), the first Burst events of every Interval are
// logged and the rest only counted, to be reported as one summary line per
// key and interval. Senders choose their keys, so the table holds at most
// MaxKeys keys; events of further keys share one. The zero value uses the
// defaults above. Time is passed in, never read: now must not go backwards
// much, and a LogLimiter is safe for concurrent use.
type LogLimiter struct {
	Burst    int
	Interval time.Duration
	MaxKeys  int

	mu   sync.Mutex
	keys map[string]*logWindow
}

type logWindow struct {
	start   time.Time
	logged  int
	dropped int
}

// Suppressed is a key's count of events not logged during the interval
// that ended: the summary line to write.
type Suppressed struct {
	Key     string
	Dropped int
	// Interval is the limiter's interval, for the summary line.
	Interval time.Duration
}

func (l *LogLimiter) defaults() {
	if l.Burst <= 0 {
		l.Burst = DefaultLogBurst
	}
	if l.Interval <= 0 {
		l.Interval = DefaultLogInterval
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultLogKeys
	}
	if l.keys == nil {
		l.keys = make(map[string]*logWindow)
	}
}

// Allow counts one event of key at now and reports whether to log it. When
// key's previous interval ended with events dropped, sum says how many: log
// that summary first.
func (l *LogLimiter) Allow(key string, now time.Time) (log bool, sum Suppressed) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.defaults()
	w := l.keys[key]
	if w == nil {
		if len(l.keys) >= l.MaxKeys {
			key = otherKey
			w = l.keys[key]
		}
		if w == nil {
			w = &logWindow{start: now}
			l.keys[key] = w
		}
	}
	if now.Sub(w.start) >= l.Interval {
		if w.dropped > 0 {
			sum = Suppressed{Key: key, Dropped: w.dropped, Interval: l.Interval}
		}
		*w = logWindow{start: now}
	}
	if w.logged < l.Burst {
		w.logged++
		return true, sum
	}
	w.dropped++
	return false, sum
}

// Due returns the summaries of the keys whose interval has ended at now
// with events dropped, sorted by key, and forgets keys whose interval ended
// quietly. Call it from a ticker so a flood that stops is still reported.
func (l *LogLimiter) Due(now time.Time) []Suppressed {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.defaults()
	var out []Suppressed
	for key, w := range l.keys {
		if now.Sub(w.start) < l.Interval {
			continue
		}
		if w.dropped > 0 {
			out = append(out, Suppressed{Key: key, Dropped: w.dropped, Interval: l.Interval})
		}
		delete(l.keys, key)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// String is the summary line: "dropped 12 more KEY in the last 10s".
func (s Suppressed) String() string {
	return fmt.Sprintf("dropped %d more %s in the last %v", s.Dropped, s.Key, s.Interval)
}
