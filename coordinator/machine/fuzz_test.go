package machine

import (
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzMachine reads an arbitrary byte string as a job configuration and a
// sequence of events (joins, leaves, heartbeats, work requests, valid,
// duplicate and broken results, ticks, right and wrong advances, clock steps
// forward and back) and checks after every event that the machine is
// consistent, never panics, hands over complete steps in order with one
// result per shard, and only advances when it should.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{3, 2, 1, 0, 1, 0, 0, 3, 0, 0, 4, 0, 0, 3, 1, 0, 4, 1, 0, 8, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 4, 0, 0, 8, 0, 0, 3, 0, 0, 4, 0, 0, 8, 0, 0})
	f.Add([]byte{5, 4, 3, 1, 2, 1, 2, 3, 0, 9, 3, 1, 9, 3, 2, 9, 5, 200, 0, 3, 3, 0, 4, 3, 7, 1, 0, 0, 2, 2, 0})
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 3, 0, 0, 5, 255, 255, 4, 0, 0, 4, 0, 1, 4, 0, 2, 7, 0, 0})
	// Two shards, backups on: a and b lease, a returns, c gets a backup, c
	// returns first.
	f.Add([]byte{1, 1, 1, 0, 0, 0, 0, 3, 0, 0, 3, 0, 1, 4, 0, 0, 3, 0, 2, 4, 1, 2, 8, 0, 0, 4, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		byteAt := func(i int) int {
			if i < len(data) {
				return int(data[i])
			}
			return 0
		}
		cfg := Config{
			Job:                 "fuzz",
			ShardsPerStep:       1 + byteAt(0)%6,
			TotalSteps:          1 + byteAt(1)%5,
			LeaseTimeout:        4 * time.Second,
			HeartbeatTimeout:    6 * time.Second,
			RetryAfter:          DefaultRetryAfter,
			BackupSlowFactor:    DefaultBackupSlowFactor,
			BackupWhenRemaining: byteAt(2) % 4,
			MaxBackupsPerShard:  1 + byteAt(3)%2,
			CheckpointEvery:     byteAt(4) % 3,
			GradLen:             2,
			StateLen:            byteAt(5) % 2,
			LayoutHash:          7,
		}
		resume := byteAt(6) % (cfg.TotalSteps + 1)
		m, err := New(cfg, resume)
		if err != nil {
			t.Fatalf("New(%+v, %d): %v", cfg, resume, err)
		}
		workers := []string{"a", "b", "c", "d"}
		now := t0
		nextStep := resume // the step the next StepComplete must be for
		accepted := 0      // accepted verdicts since the last StepComplete
		complete := false  // a StepComplete is waiting for Advance
		done := resume == cfg.TotalSteps
		fed := 0

		drain := func() {
			for _, o := range m.Ready() {
				switch o := o.(type) {
				case StepComplete:
					if complete || done || o.Step != nextStep || len(o.Results) != cfg.ShardsPerStep || accepted != cfg.ShardsPerStep {
						t.Fatalf("StepComplete step %d with %d results after %d accepted; want step %d (complete %v, done %v)",
							o.Step, len(o.Results), accepted, nextStep, complete, done)
					}
					for i, r := range o.Results {
						if r.Shard != i || r.Step != o.Step || r.Grads[0] != gradValue(o.Step, i) {
							t.Fatalf("step %d Results[%d] is step %d shard %d", o.Step, i, r.Step, r.Shard)
						}
					}
					complete, accepted = true, 0
				case JobDone:
					if done && o.Version != resume {
						t.Fatalf("second JobDone")
					}
					done = true
				}
			}
		}
		drain()

		for i := 7; i+2 < len(data); i += 3 {
			op, a, b := data[i]%10, int(data[i+1]), int(data[i+2])
			// Time moves by up to ~6.4 s per event, and now and then back.
			if a%16 == 15 {
				now = now.Add(-time.Duration(b) * 10 * time.Millisecond)
			} else {
				now = now.Add(time.Duration(a) * 25 * time.Millisecond)
			}
			w := workers[b%len(workers)]
			switch op {
			case 0:
				if err := m.Join(w, now); err != nil {
					t.Fatal(err)
				}
			case 1:
				m.Leave(w, now)
			case 2:
				if err := m.Heartbeat(w, now); err != nil {
					t.Fatal(err)
				}
			case 3:
				r, err := m.RequestWork(w, now)
				if err != nil {
					t.Fatal(err)
				}
				switch r := r.(type) {
				case Lease:
					if complete || done || r.Step != m.Step() || r.Version != r.Step || !r.Deadline.After(now) {
						t.Fatalf("lease %+v at step %d (complete %v, done %v)", r, m.Step(), complete, done)
					}
				case Done:
					if !done {
						t.Fatal("Done before JobDone")
					}
				case Wait:
					if r.RetryAfter <= 0 {
						t.Fatalf("Wait %v", r.RetryAfter)
					}
				default:
					t.Fatalf("reply %#v", r)
				}
			case 4, 5, 6:
				// A result for shard a of the current step (or a nearby one),
				// valid or broken in the way b picks.
				step := m.Step()
				if op == 6 {
					step += b%3 - 1
				}
				r := validResult(cfg, w, step, a%(cfg.ShardsPerStep+1))
				broken := op == 5
				if broken {
					switch b % 6 {
					case 0:
						r.Grads[1] = float32(math.Inf(-1))
					case 1:
						r.Version--
					case 2:
						r.Count = -1
					case 3:
						r.Stats = append(r.Stats, 1)
					case 4:
						r.LayoutHash = 0
					case 5:
						r.Loss = math.NaN()
					}
				}
				before := m.Counters()
				v := m.Result(r, now)
				fed++
				after := m.Counters()
				switch v.Outcome {
				case Accepted:
					if broken || r.Shard >= cfg.ShardsPerStep || r.Step != before.StepsAdvanced+resume {
						t.Fatalf("accepted %+v", r)
					}
					accepted++
				case Duplicate:
					if after.Duplicates != before.Duplicates+1 || !errors.Is(v.Err(), ErrDuplicate) {
						t.Fatalf("duplicate not counted: %+v", after)
					}
				case Invalid:
					if after.InvalidTotal != before.InvalidTotal+1 || after.Invalid[v.Reason] != before.Invalid[v.Reason]+1 {
						t.Fatalf("invalid (%v) not counted", v.Reason)
					}
				case Lost: // a well-formed copy of an earlier step's shard whose lease lost the race
					if after.LostRaces != before.LostRaces+1 || !errors.Is(v.Err(), ErrDuplicate) ||
						broken || r.Step >= m.Step() {
						t.Fatalf("lost %+v (broken %v) at step %d: counters %+v", r, broken, m.Step(), after)
					}
				default:
					t.Fatalf("verdict %+v", v)
				}
			case 7:
				m.Tick(now)
			case 8, 9:
				version := m.Step() + 1
				if op == 9 {
					version += b%3 - 1
				}
				err := m.Advance(version)
				switch {
				case err == nil:
					if !complete || version != nextStep+1 {
						t.Fatalf("Advance(%d) succeeded at step %d (complete %v)", version, m.Step(), complete)
					}
					complete = false
					nextStep++
				case done && !errors.Is(err, ErrJobDone),
					!done && !complete && !errors.Is(err, ErrStepIncomplete),
					complete && !errors.Is(err, ErrAdvanceVersion):
					t.Fatalf("Advance(%d) at step %d (complete %v, done %v): %v", version, m.Step(), complete, done, err)
				}
			}
			drain()
			if err := m.invariants(); err != nil {
				t.Fatalf("after op %d at byte %d: %v", op, i, err)
			}
		}
		c := m.Counters()
		if fed != c.Applied+c.Duplicates+c.LostRaces+c.InvalidTotal {
			t.Fatalf("fed %d != applied %d + duplicates %d + lost %d + invalid %d", fed, c.Applied, c.Duplicates, c.LostRaces, c.InvalidTotal)
		}
		if done != (m.Phase() == PhaseDone) {
			t.Fatalf("JobDone seen %v, phase %v", done, m.Phase())
		}
	})
}
