package machine

import (
	"errors"
	"testing"
	"time"
)

func TestLostWorkerLeasesReturn(t *testing.T) {
	cfg := testConfig()
	cfg.LeaseTimeout = time.Hour // only the worker's silence can return the shard
	m := mustNew(t, cfg, 0)
	lost := mustLease(t, m, "silent", at(0))
	kept := mustLease(t, m, "alive", at(0))

	// alive keeps heartbeating; silent says nothing.
	for s := time.Duration(0); s < cfg.HeartbeatTimeout; s += 5 * time.Second {
		if err := m.Heartbeat("alive", at(s)); err != nil {
			t.Fatal(err)
		}
	}
	m.Tick(at(cfg.HeartbeatTimeout - time.Nanosecond))
	if n := len(m.Status().Workers); n != 2 {
		t.Fatalf("%d workers just before the heartbeat timeout, want 2", n)
	}
	m.Tick(at(cfg.HeartbeatTimeout))
	st := m.Status()
	if len(st.Workers) != 1 || st.Workers[0].ID != "alive" {
		t.Fatalf("workers %+v after the timeout, want only alive", st.Workers)
	}
	if st.Shards[lost.Shard].State != ShardPending || st.Shards[kept.Shard].State != ShardLeased {
		t.Fatalf("shards %+v: want the lost worker's pending and the live one's leased", st.Shards)
	}
	c := st.Counters
	if c.WorkersLost != 1 || c.Returned != 1 || c.Expired != 0 {
		t.Fatalf("counters %+v, want 1 worker lost, 1 lease returned, none expired", c)
	}
	if l := mustLease(t, m, "new", at(cfg.HeartbeatTimeout)); l.Shard != lost.Shard {
		t.Fatalf("next lease is shard %d, want the lost worker's %d", l.Shard, lost.Shard)
	}
	// The lost worker comes back with its result: first valid copy, taken.
	if v := mustAccept(t, m, validResult(cfg, "silent", 0, lost.Shard), at(cfg.HeartbeatTimeout+time.Second)); !v.Late {
		t.Fatal("result of a lost worker not marked late")
	}
	checkInvariants(t, m)
}

func TestAnyMessageKeepsWorkerAlive(t *testing.T) {
	cfg := testConfig()
	half := cfg.HeartbeatTimeout / 2
	events := map[string]func(m *Machine, now time.Time){
		"heartbeat": func(m *Machine, now time.Time) { _ = m.Heartbeat("a", now) },
		"join":      func(m *Machine, now time.Time) { _ = m.Join("a", now) },
		"request":   func(m *Machine, now time.Time) { _, _ = m.RequestWork("a", now) },
		"result":    func(m *Machine, now time.Time) { m.Result(validResult(cfg, "a", 0, 0), now) },
	}
	for name, ev := range events {
		m := mustNew(t, cfg, 0)
		if err := m.Join("a", at(0)); err != nil {
			t.Fatal(err)
		}
		ev(m, at(half))
		m.Tick(at(half + cfg.HeartbeatTimeout - time.Nanosecond))
		if n := len(m.Status().Workers); n != 1 {
			t.Errorf("after a %s the worker was lost too early", name)
		}
		m.Tick(at(half + cfg.HeartbeatTimeout))
		if n := len(m.Status().Workers); n != 0 {
			t.Errorf("worker silent for the timeout after a %s was not lost", name)
		}
		checkInvariants(t, m)
	}
}

func TestLeaveReturnsLeases(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	l := mustLease(t, m, "a", at(0))
	m.Leave("a", at(time.Second))
	m.Leave("never-seen", at(time.Second))
	st := m.Status()
	if len(st.Workers) != 0 || st.Shards[l.Shard].State != ShardPending {
		t.Fatalf("after Leave: workers %+v, shard %v; want none and pending", st.Workers, st.Shards[l.Shard].State)
	}
	if c := st.Counters; c.WorkersLeft != 1 || c.Returned != 1 || c.WorkersLost != 0 {
		t.Fatalf("counters %+v, want 1 left, 1 returned", c)
	}
	checkInvariants(t, m)
}

func TestRejoinReturnsLeases(t *testing.T) {
	cfg := testConfig()
	cfg.BackupWhenRemaining = cfg.ShardsPerStep
	m := mustNew(t, cfg, 0)
	for range cfg.ShardsPerStep {
		mustLease(t, m, "b", at(0))
	}
	backup := mustLease(t, m, "a", at(time.Second))
	if !backup.Backup {
		t.Fatalf("lease %+v, want a backup", backup)
	}
	// a restarted: its backup lease goes, b's primary on that shard stays.
	if err := m.Join("a", at(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := m.Status()
	if sh := st.Shards[backup.Shard]; sh.State != ShardLeased || len(sh.Leases) != 1 || sh.Leases[0].Worker != "b" {
		t.Fatalf("shard %d after a's rejoin: %+v, want leased to b only", backup.Shard, sh)
	}
	if c := st.Counters; c.Returned != 1 || c.WorkersJoined != 2 {
		t.Fatalf("counters %+v, want 1 returned, 2 joined", c)
	}
	checkInvariants(t, m)
}

func TestEmptyWorkerIDIsRejected(t *testing.T) {
	m := mustNew(t, testConfig(), 0)
	if err := m.Join("", at(0)); !errors.Is(err, ErrNoWorkerID) {
		t.Errorf("Join(\"\") = %v", err)
	}
	if err := m.Heartbeat("", at(0)); !errors.Is(err, ErrNoWorkerID) {
		t.Errorf("Heartbeat(\"\") = %v", err)
	}
	if r, err := m.RequestWork("", at(0)); !errors.Is(err, ErrNoWorkerID) || r != nil {
		t.Errorf("RequestWork(\"\") = %#v, %v", r, err)
	}
	if st := m.Status(); len(st.Workers) != 0 || st.Counters.Leased != 0 {
		t.Fatalf("anonymous events changed the machine: %+v", st)
	}
}

func TestTimeGoingBackwardsDoesNotAgeWorkers(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	if err := m.Heartbeat("a", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := m.Heartbeat("a", at(0)); err != nil { // a clock step back
		t.Fatal(err)
	}
	if ws := m.Status().Workers; ws[0].LastSeen != at(time.Minute) {
		t.Fatalf("last seen %v, want the later time", ws[0].LastSeen.Sub(t0))
	}
	m.Tick(at(time.Minute + cfg.HeartbeatTimeout - time.Nanosecond))
	if n := len(m.Status().Workers); n != 1 {
		t.Fatal("worker lost early after the clock stepped back")
	}
}
