package machine

import (
	"fmt"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

// BenchmarkStep measures one whole step of bookkeeping: S leases spread
// over 16 workers, S results, the hand-over and Advance. Gradients are
// small, so this is the machine's own cost per step.
func BenchmarkStep(b *testing.B) {
	for _, S := range []int{8, 64, 512} {
		b.Run(fmt.Sprintf("shards=%d", S), func(b *testing.B) {
			cfg := benchConfig(Config{Job: "bench", ShardsPerStep: S, TotalSteps: b.N + 1, GradLen: 16, LayoutHash: 1, BackupWhenRemaining: 2})
			m := mustNew(b, cfg, 0)
			workers := make([]string, 16)
			for i := range workers {
				workers[i] = fmt.Sprint("w", i)
			}
			results := make([]params.Result, S)
			for i := range results {
				results[i] = validResult(cfg, "", 0, i)
			}
			now := t0
			b.ResetTimer()
			for step := range b.N {
				for i := range S {
					w := workers[i%len(workers)]
					r, _ := m.RequestWork(w, now)
					l := r.(Lease)
					res := results[l.Shard]
					res.Worker, res.Step, res.Version = w, step, step
					if v := m.Result(res, now); v.Outcome != Accepted {
						b.Fatal(v.Err())
					}
				}
				m.Ready()
				if err := m.Advance(step + 1); err != nil {
					b.Fatal(err)
				}
				m.Ready()
				now = now.Add(time.Millisecond)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*S), "ns/shard")
		})
	}
}

// BenchmarkResultValidation measures taking one result of a Conv-4-sized
// gradient (112k float32, about Conv-4 on Omniglot), which is dominated by
// the NaN/Inf scan.
func BenchmarkResultValidation(b *testing.B) {
	const gradLen = 112_000
	cfg := benchConfig(Config{Job: "bench", ShardsPerStep: 1, TotalSteps: b.N + 1, GradLen: gradLen, LayoutHash: 1})
	m := mustNew(b, cfg, 0)
	r := validResult(cfg, "w", 0, 0)
	b.SetBytes(4 * gradLen)
	b.ResetTimer()
	for step := range b.N {
		r.Step, r.Version = step, step
		if v := m.Result(r, t0); v.Outcome != Accepted {
			b.Fatal(v.Err())
		}
		m.Ready()
		if err := m.Advance(step + 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestWorkAllLeased measures the worst work request: every
// shard leased, backups on but not yet allowed, so the request scans the
// whole step and waits.
func BenchmarkRequestWorkAllLeased(b *testing.B) {
	const S = 4096
	cfg := benchConfig(Config{Job: "bench", ShardsPerStep: S, TotalSteps: 1, GradLen: 1, BackupWhenRemaining: 8, LeaseTimeout: time.Hour})
	m := mustNew(b, cfg, 0)
	for range S {
		mustLease(b, m, "holder", t0)
	}
	b.ResetTimer()
	for range b.N {
		if r, _ := m.RequestWork("idle", t0); r != (Wait{RetryAfter: DefaultRetryAfter}) {
			b.Fatalf("reply %#v", r)
		}
	}
}

// benchConfig gives c the driver's values for the fields it leaves zero.
func benchConfig(c Config) Config {
	if c.LeaseTimeout == 0 {
		c.LeaseTimeout = DefaultLeaseTimeout
	}
	c.HeartbeatTimeout, c.RetryAfter = DefaultHeartbeatTimeout, DefaultRetryAfter
	c.MaxBackupsPerShard, c.BackupSlowFactor = DefaultMaxBackupsPerShard, DefaultBackupSlowFactor
	return c
}
