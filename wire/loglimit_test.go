package wire

import (
	"reflect"
	"testing"
	"time"
)

func TestLogLimiterLogsABurstThenOneSummaryPerInterval(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type ev struct {
		key     string
		ms      int
		log     bool
		dropped int // summary returned with the event, 0 for none
	}
	tests := []struct {
		name   string
		l      *LogLimiter
		events []ev
		dueAt  int
		due    []Suppressed
	}{
		{"a burst per key, then counted", &LogLimiter{Burst: 2, Interval: time.Second},
			[]ev{{"a", 0, true, 0}, {"a", 1, true, 0}, {"a", 2, false, 0}, {"b", 3, true, 0}, {"a", 999, false, 0}},
			999, nil},
		{"the next interval's first event carries the summary", &LogLimiter{Burst: 1, Interval: time.Second},
			[]ev{{"a", 0, true, 0}, {"a", 10, false, 0}, {"a", 20, false, 0}, {"a", 1000, true, 2}, {"a", 1001, false, 0}},
			1500, nil},
		{"Due reports a flood that stopped and forgets quiet keys", &LogLimiter{Burst: 1, Interval: time.Second},
			[]ev{{"b", 0, true, 0}, {"b", 1, false, 0}, {"a", 2, true, 0}, {"a", 3, false, 0}, {"a", 4, false, 0}, {"c", 5, true, 0}},
			1005, []Suppressed{{"a", 2, time.Second}, {"b", 1, time.Second}}},
		{"keys past the table share one", &LogLimiter{Burst: 1, Interval: time.Second, MaxKeys: 2},
			[]ev{{"a", 0, true, 0}, {"b", 0, true, 0}, {"c", 0, true, 0}, {"d", 0, false, 0}, {"e", 0, false, 0}},
			1000, []Suppressed{{otherKey, 2, time.Second}}},
		{"zero value: five per ten seconds", &LogLimiter{},
			[]ev{{"a", 0, true, 0}, {"a", 1, true, 0}, {"a", 2, true, 0}, {"a", 3, true, 0}, {"a", 4, true, 0}, {"a", 5, false, 0}, {"a", 9999, false, 0}, {"a", 10000, true, 2}},
			10000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, e := range tt.events {
				log, sum := tt.l.Allow(e.key, at(e.ms))
				if log != e.log || sum.Dropped != e.dropped {
					t.Fatalf("event %d (%s at %dms): log %v, summary of %d; want %v, %d", i, e.key, e.ms, log, sum.Dropped, e.log, e.dropped)
				}
			}
			if got := tt.l.Due(at(tt.dueAt)); !reflect.DeepEqual(got, tt.due) {
				t.Fatalf("Due at %dms: %+v, want %+v", tt.dueAt, got, tt.due)
			}
		})
	}
}
