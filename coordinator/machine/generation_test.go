package machine

import (
	"testing"
	"time"
)

// TestGenerationMovesWhenWorkMayHave walks one step and checks which calls
// move Generation: the driver re-asks its held work requests only when it
// moved (or a tick passed), so a call that makes work without moving it
// would leave idle workers waiting for the next tick.
func TestGenerationMovesWhenWorkMayHave(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	type call struct {
		name  string
		do    func()
		moves bool
	}
	expiry := at(cfg.LeaseTimeout + time.Second)
	calls := []call{
		{"a lease to a new worker", func() { mustLease(t, m, "a", at(0)) }, true},
		{"a lease to another", func() { mustLease(t, m, "b", at(0)) }, true},
		{"the last shard leased", func() { mustLease(t, m, "c", at(0)) }, true},
		{"a known worker told to wait", func() { mustWait(t, m, "a", at(time.Second)) }, false},
		{"a heartbeat", func() {
			if err := m.Heartbeat("b", at(time.Second)); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a tick that expires nothing", func() { m.Tick(at(2 * time.Second)) }, false},
		{"a new worker told to wait", func() { mustWait(t, m, "d", at(2*time.Second)) }, true},
		{"a result", func() { mustAccept(t, m, validResult(cfg, "a", 0, 0), at(3*time.Second)) }, true},
		{"a tick that expires b's and c's leases", func() { m.Tick(expiry) }, true},
		{"the expired shard leased again", func() { mustLease(t, m, "d", expiry) }, true},
		{"a worker leaves", func() { m.Leave("d", expiry) }, true},
		{"a worker joins", func() {
			if err := m.Join("e", expiry); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, c := range calls {
		before := m.Generation()
		c.do()
		if moved := m.Generation() != before; moved != c.moves {
			t.Errorf("%s: generation moved %v, want %v", c.name, moved, c.moves)
		}
		checkInvariants(t, m)
	}
}
