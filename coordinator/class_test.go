package coordinator

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// syncBuf is a bytes.Buffer safe for a logger and a test together.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// unitSpec is a small job on the glyphs for drivers that are not run.
func unitSpec(id string) JobSpec {
	return JobSpec{ID: id, Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 2, Steps: 3, Seed: 4}.WithDefaults()
}

// newUnitDriver is a driver of spec that is never Run: its events are fed
// to handle by the test, with explicit times. It is connected to an
// in-process NATS server, which it never needs, since no event has a
// reply subject; it logs at debug level into the returned buffer.
func newUnitDriver(t *testing.T, spec JobSpec) (*Driver, *syncBuf) {
	t.Helper()
	_, nc := EmbeddedConn(t, transport.ConnectOptions{Name: "coord"})
	log := &syncBuf{}
	d, err := NewDriver(DriverConfig{Spec: spec, Conn: nc, DB: filepath.Join(t.TempDir(), "fsl.db"),
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.store.Close() })
	return d, log
}

// canaryOf is a made-up canary: 64 hex digits of c.
func canaryOf(c byte) string { return strings.Repeat(string(c), 64) }

// TestClientTriggeredWarningsAreLimited floods the driver with messages
// each of which logs a line — work requests of another compute class,
// messages of a type the job's subjects do not take, joins under ever-new
// worker IDs — and checks that each writes its burst of lines, then one
// summary counting the rest when the next interval begins.
func TestClientTriggeredWarningsAreLimited(t *testing.T) {
	const flood = 200
	tests := []struct {
		name  string
		line  string // the message of the limited line
		burst int
		ev    func(i int) event
	}{
		{"work requests of another class", "worker of another compute class refused", wire.DefaultLogBurst,
			func(int) event {
				return event{msg: &wire.WorkRequest{Worker: "rogue", Canary: canaryOf('b'), Class: "cpu b"}}
			}},
		{"unexpected messages", "unexpected message", wire.DefaultLogBurst,
			func(int) event { return event{msg: &wire.Ctl{Kind: wire.CtlDone}} }},
		{"joins under new IDs", "worker joined", joinLogBurst,
			func(i int) event { return event{msg: &wire.Join{ID: fmt.Sprintf("w%d", i)}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, log := newUnitDriver(t, unitSpec("flood"))
			// the job's class is the first worker's
			if refused := d.checkClass("first", canaryOf('a'), "cpu a", at(0)); refused != nil {
				t.Fatalf("the first worker refused: %v", refused.Text)
			}
			for i := range flood {
				d.handle(tt.ev(i), at(time.Duration(i)*time.Millisecond))
			}
			d.handle(tt.ev(flood), at(wire.DefaultLogInterval+time.Second))
			out := log.String()
			if n := strings.Count(out, fmt.Sprintf("msg=%q", tt.line)); n != tt.burst+1 {
				t.Errorf("%d lines %q for %d messages, want %d (a burst, then one in the next interval):\n%s", n, tt.line, flood+1, tt.burst+1, out)
			}
			if sum := fmt.Sprintf("dropped %d more ", flood-tt.burst); strings.Count(out, sum) != 1 {
				t.Errorf("no summary line %q…:\n%s", sum, out)
			}
		})
	}
}

// TestComputeClassNamedInTheSpecHoldsWorkersFromTheStart: with
// compute_class (a whole canary or a prefix), a first worker of another
// class is refused — the message names the job's canary and says its
// class is not known yet — and one of the named class is admitted, makes
// the class whole and is recorded; without compute_class the first worker
// sets the class, whatever it is; allow_mixed_classes admits the other
// class and records the mix, which the named class's first worker keeps.
func TestComputeClassNamedInTheSpecHoldsWorkersFromTheStart(t *testing.T) {
	type ask struct {
		worker  string
		canary  byte
		refused string // a part of the refusal, "" for admitted
	}
	tests := []struct {
		name    string
		named   string
		mixed   bool
		asks    []ask
		want    checkpoints.Class
		wantLog string
	}{
		{"whole canary", canaryOf('a'), false, []ask{
			{"b", 'b', "computes in the class of canary aaaaaaaaaaaa, named by compute_class in the job spec (which kernels and BLAS that is becomes known"},
			{"a", 'a', ""},
			{"b", 'b', `computes in class "cpu a" (canary aaaaaaaaaaaa); this worker computes in class "cpu b" (canary bbbbbbbbbbbb)`},
			{"a2", 'a', ""},
		}, checkpoints.Class{Canary: canaryOf('a'), Description: "cpu a"}, "named_in_spec=true"},
		{"prefix", canaryOf('a')[:MinComputeClassDigits], false, []ask{
			{"b", 'b', "canary aaaaaaaaaaaa, named by compute_class"},
			{"a", 'a', ""},
		}, checkpoints.Class{Canary: canaryOf('a'), Description: "cpu a"}, "named_in_spec=true"},
		{"none: the first worker's", "", false, []ask{
			{"b", 'b', ""},
			{"a", 'a', `computes in class "cpu b"`},
		}, checkpoints.Class{Canary: canaryOf('b'), Description: "cpu b"}, "named_in_spec=false"},
		{"named, mixing allowed", canaryOf('a'), true, []ask{
			{"b", 'b', ""},
			{"a", 'a', ""},
		}, checkpoints.Class{Canary: canaryOf('a'), Description: "cpu a", Mixed: true}, "named_in_spec=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := unitSpec("named")
			spec.ComputeClass, spec.AllowMixedClasses = tt.named, tt.mixed
			d, log := newUnitDriver(t, spec)
			for i, a := range tt.asks {
				err := d.checkClass(a.worker, canaryOf(a.canary), "cpu "+string(a.canary), at(time.Duration(i)*time.Second))
				switch {
				case a.refused == "" && err != nil:
					t.Fatalf("ask %d: worker %s refused: %s", i, a.worker, err.Text)
				case a.refused != "" && err == nil:
					t.Fatalf("ask %d: worker %s admitted, want refused", i, a.worker)
				case a.refused != "" && (err.Code != wire.CodeWrongClass || !strings.Contains(err.Text, a.refused)):
					t.Fatalf("ask %d: worker %s refused with %v %q, want %v with %q", i, a.worker, err.Code, err.Text, wire.CodeWrongClass, a.refused)
				}
			}
			if d.class != tt.want {
				t.Errorf("class %+v, want %+v", d.class, tt.want)
			}
			rec, err := d.store.Job(spec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Class != tt.want {
				t.Errorf("recorded class %+v, want %+v", rec.Class, tt.want)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("no %q in the log:\n%s", tt.wantLog, log)
			}
		})
	}
}

// TestStatusNamesTheJobsComputeClass: the status (fsl-coord status, /status)
// carries the job's class and its canary, what --compute-class takes, once
// the first worker set them; none before.
func TestStatusNamesTheJobsComputeClass(t *testing.T) {
	d, _ := newUnitDriver(t, unitSpec("class"))
	if st := d.status(); st.ComputeCanary != "" || st.ComputeClass != "" {
		t.Fatalf("class %q, canary %q before any worker", st.ComputeClass, st.ComputeCanary)
	}
	if refused := d.checkClass("first", canaryOf('a'), "cpu a", at(0)); refused != nil {
		t.Fatalf("the first worker refused: %v", refused.Text)
	}
	if st := d.status(); st.ComputeCanary != canaryOf('a') || st.ComputeClass != "cpu a" {
		t.Fatalf("class %q, canary %q; want the first worker's", st.ComputeClass, st.ComputeCanary)
	}
}
