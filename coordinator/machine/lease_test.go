package machine

import (
	"testing"
	"time"
)

func TestLeaseGoesToLowestPendingShard(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	for i, w := range []string{"a", "b", "c"} {
		now := at(time.Duration(i) * time.Second)
		l := mustLease(t, m, w, now)
		want := Lease{Step: 0, Shard: i, Version: 0, Deadline: now.Add(cfg.LeaseTimeout), Attempt: 1}
		if l != want {
			t.Fatalf("lease %d = %+v, want %+v", i, l, want)
		}
	}
	mustWait(t, m, "d", at(3*time.Second))
	if c := m.Counters(); c.Leased != 3 || c.Backups != 0 {
		t.Fatalf("counters %+v, want 3 leased and no backups", c)
	}
	checkInvariants(t, m)
}

func TestWaitSuggestsConfiguredRetry(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 1
	cfg.RetryAfter = 1500 * time.Millisecond
	m := mustNew(t, cfg, 0)
	mustLease(t, m, "a", at(0))
	r, _ := m.RequestWork("b", at(0))
	if r != (Wait{RetryAfter: cfg.RetryAfter}) {
		t.Fatalf("RequestWork = %#v, want Wait{%v}", r, cfg.RetryAfter)
	}
}

func TestLeaseExpiryRedispatchesShard(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 1
	tests := []struct {
		name    string
		tick    bool          // let time pass with Tick before asking
		after   time.Duration // since the lease was granted
		expired bool
	}{
		{"tick just before the deadline keeps the lease", true, cfg.LeaseTimeout - time.Nanosecond, false},
		{"tick at the deadline expires it", true, cfg.LeaseTimeout, true},
		{"tick after the deadline expires it", true, cfg.LeaseTimeout + time.Minute, true},
		{"a work request after the deadline expires it without a tick", false, cfg.LeaseTimeout, true},
		{"a work request before the deadline keeps it", false, cfg.LeaseTimeout - time.Nanosecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustNew(t, cfg, 0)
			first := mustLease(t, m, "a", at(0))
			now := at(tt.after)
			if err := m.Heartbeat("a", now); err != nil { // a is alive, only slow
				t.Fatal(err)
			}
			if tt.tick {
				m.Tick(now)
				wantState := ShardLeased
				if tt.expired {
					wantState = ShardPending
				}
				if got := m.Status().Shards[0].State; got != wantState {
					t.Fatalf("after Tick the shard is %v, want %v", got, wantState)
				}
			}
			r, err := m.RequestWork("b", now)
			if err != nil {
				t.Fatal(err)
			}
			l, leased := r.(Lease)
			if leased != tt.expired {
				t.Fatalf("RequestWork after %v = %#v, want a lease: %v", tt.after, r, tt.expired)
			}
			if leased && (l.Shard != first.Shard || l.Attempt != 2 || l.Deadline != now.Add(cfg.LeaseTimeout)) {
				t.Fatalf("re-dispatched lease %+v, want shard %d attempt 2 deadline %v", l, first.Shard, now.Add(cfg.LeaseTimeout))
			}
			wantExpired := 0
			if tt.expired {
				wantExpired = 1
			}
			if c := m.Counters(); c.Expired != wantExpired {
				t.Fatalf("Expired = %d, want %d", c.Expired, wantExpired)
			}
			if ws := m.Status().Workers; len(ws[0].Shards) != 1-wantExpired {
				t.Fatalf("worker a holds shards %v after expiry %v", ws[0].Shards, tt.expired)
			}
			checkInvariants(t, m)
		})
	}
}

func TestWorkerMayHoldSeveralLeases(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	for i := range cfg.ShardsPerStep {
		if l := mustLease(t, m, "a", at(0)); l.Shard != i {
			t.Fatalf("lease %d is shard %d", i, l.Shard)
		}
	}
	if got := m.Status().Workers[0].Shards; len(got) != cfg.ShardsPerStep {
		t.Fatalf("worker holds %v, want all %d shards", got, cfg.ShardsPerStep)
	}
	checkInvariants(t, m)
}

func TestBackupLeaseNearEndOfStep(t *testing.T) {
	base := testConfig()
	base.ShardsPerStep = 4
	base.BackupWhenRemaining = 2

	type want struct {
		shard  int // -1: Wait
		backup bool
	}
	tests := []struct {
		name   string
		cfg    func(*Config)
		leases []string // workers leasing shards 0.. in order, one second apart
		done   []int    // shards then completed by their holder
		asker  string
		want   want
	}{
		{
			name:   "more outstanding than the threshold waits",
			leases: []string{"a", "b", "c", "d"},
			done:   []int{0},
			asker:  "e",
			want:   want{shard: -1},
		},
		{
			// Shards 0 and 1 took about 5 s; at 6 s shard 2 has been out 4 s,
			// less than 1.5 mean shard times: a hedge would only waste work.
			name:   "a lease that is not slow gets no backup",
			leases: []string{"a", "b", "c", "d"},
			done:   []int{0, 1},
			asker:  "e",
			want:   want{shard: -1},
		},
		{
			name:   "at the threshold a copy of the oldest outstanding shard",
			cfg:    func(c *Config) { c.BackupSlowFactor = 0.5 },
			leases: []string{"a", "b", "c", "d"},
			done:   []int{0, 1},
			asker:  "e",
			want:   want{shard: 2, backup: true},
		},
		{
			name:   "the holder of the oldest gets a copy of another",
			cfg:    func(c *Config) { c.BackupSlowFactor = 0.5 },
			leases: []string{"a", "b", "c", "d"},
			done:   []int{0, 1},
			asker:  "c",
			want:   want{shard: 3, backup: true},
		},
		{
			name:   "a pending shard is preferred to a backup",
			leases: []string{"a", "b", "c"},
			done:   []int{0, 1},
			asker:  "e",
			want:   want{shard: 3},
		},
		{
			name:   "zero threshold disables backups",
			cfg:    func(c *Config) { c.BackupWhenRemaining = 0 },
			leases: []string{"a", "b", "c", "d"},
			done:   []int{0, 1, 2},
			asker:  "e",
			want:   want{shard: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			m := mustNew(t, cfg, 0)
			for i, w := range tt.leases {
				mustLease(t, m, w, at(time.Duration(i)*time.Second))
			}
			for _, s := range tt.done {
				mustAccept(t, m, validResult(cfg, tt.leases[s], 0, s), at(5*time.Second))
			}
			now := at(6 * time.Second)
			r, err := m.RequestWork(tt.asker, now)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.shard < 0 {
				if _, ok := r.(Wait); !ok {
					t.Fatalf("RequestWork = %#v, want Wait", r)
				}
			} else {
				l, ok := r.(Lease)
				if !ok || l.Shard != tt.want.shard || l.Backup != tt.want.backup {
					t.Fatalf("RequestWork = %#v, want shard %d backup %v", r, tt.want.shard, tt.want.backup)
				}
				if wantBackups := map[bool]int{true: 1}[tt.want.backup]; m.Counters().Backups != wantBackups {
					t.Fatalf("Backups = %d, want %d", m.Counters().Backups, wantBackups)
				}
			}
			checkInvariants(t, m)
		})
	}
}

func TestBackupsPerShardAreCapped(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 2
	cfg.BackupWhenRemaining = 1
	for _, max := range []int{1, 2} {
		cfg.MaxBackupsPerShard = max
		m := mustNew(t, cfg, 0)
		mustLease(t, m, "p", at(0)) // shard 0: p delivers, so the job is past its start
		mustAccept(t, m, validResult(cfg, "p", 0, 0), at(500*time.Millisecond))
		mustLease(t, m, "a", at(0)) // shard 1
		for i := range max {
			if l := mustLease(t, m, string(rune('b'+i)), at(time.Second)); !l.Backup || l.Shard != 1 || l.Attempt != i+2 {
				t.Fatalf("max %d: backup %d = %+v", max, i, l)
			}
		}
		mustWait(t, m, "z", at(time.Second))
		if got := len(m.Status().Shards[1].Leases); got != 1+max {
			t.Fatalf("max %d: %d live leases, want %d", max, got, 1+max)
		}
		checkInvariants(t, m)
	}
}

// TestAtTheStartAnyWorkerCopiesHoardedShards: before any worker has
// delivered, clients that took every lease and every backup first cannot
// stall the step: a worker without strikes that asks gets a copy of a shard
// only they hold, past MaxBackupsPerShard, the one with the fewest copies.
func TestAtTheStartAnyWorkerCopiesHoardedShards(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 2
	cfg.BackupWhenRemaining = 2
	cfg.MaxLeasesPerWorker = 2
	m := mustNew(t, cfg, 0)
	for _, h := range []string{"h1", "h2"} { // each takes a shard and a backup
		mustLease(t, m, h, at(0))
		mustLease(t, m, h, at(0))
	}
	checkInvariants(t, m)
	if l := mustLease(t, m, "honest", at(time.Second)); !l.Backup {
		t.Fatalf("honest got %+v, want a copy", l)
	}
	if l := mustLease(t, m, "honest2", at(time.Second)); !l.Backup {
		t.Fatalf("honest2 got %+v, want a copy", l)
	}
	st := m.Status()
	if n0, n1 := len(st.Shards[0].Leases), len(st.Shards[1].Leases); n0 != 3 || n1 != 3 {
		t.Fatalf("leases per shard %d and %d, want the copies spread: 3 and 3", n0, n1)
	}
	checkInvariants(t, m)
	// Once a worker has delivered, the cap holds again for the others.
	mustAccept(t, m, validResult(cfg, "honest", 0, 0), at(2*time.Second))
	mustWait(t, m, "late", at(2*time.Second))
}

func TestBackupResultWinsAndPrimaryIsDuplicate(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 1
	cfg.BackupWhenRemaining = 1
	m := mustNew(t, cfg, 0)
	mustLease(t, m, "slow", at(0))
	if l := mustLease(t, m, "fast", at(time.Second)); !l.Backup {
		t.Fatalf("second lease %+v, want a backup", l)
	}
	if v := mustAccept(t, m, validResult(cfg, "fast", 0, 0), at(2*time.Second)); v.Late {
		t.Fatal("backup holder's result marked late")
	}
	if v := m.Result(validResult(cfg, "slow", 0, 0), at(3*time.Second)); v.Outcome != Duplicate {
		t.Fatalf("primary's result after the backup's = %+v, want duplicate", v)
	}
	c := m.Counters()
	if c.Fulfilled != 2 || c.Duplicates != 1 || c.Applied != 1 {
		t.Fatalf("counters %+v, want both leases fulfilled, 1 duplicate, 1 applied", c)
	}
	if sc := m.Ready()[0].(StepComplete); sc.Results[0].Worker != "fast" {
		t.Fatalf("handed over the result of %q, want the backup's", sc.Results[0].Worker)
	}
	checkInvariants(t, m)
}
