package coordinator_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// TestABurstOfResultsLosesNone runs a pipelined job (depth 1) of 64 shards
// a step on 128 workers whose compute is instant, so every open shard's
// Conv-4 result (447 KB) reaches the coordinator at once: about 57 MB a
// step and more with backups. NATS's default of 64 MiB queued for one
// client made the server drop the coordinator's connection as a slow
// consumer, and the lost results stalled the step until their leases
// expired (30 s). No lease may expire, and the job must end with every
// shard applied once.
func TestABurstOfResultsLosesNone(t *testing.T) {
	if testing.Short() {
		t.Skip("128 workers sending 1,900 results of 447 KB: skipped with -short")
	}
	srv, nc := coordinator.EmbeddedConn(t, transport.ConnectOptions{Name: "coord"})
	spec := coordinator.DefaultSpec()
	spec.ID, spec.Shards, spec.Steps, spec.Pipeline = "burst", 64, 20, 1
	spec = spec.WithDefaults()
	d, err := coordinator.NewDriver(coordinator.DriverConfig{Spec: spec, DB: filepath.Join(t.TempDir(), "fsl.db"), Conn: nc, Linger: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	grads, stats := make(params.Vector, m.Layout().Size()), make(params.Vector, m.StateLayout().Size())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker.Run(ctx, worker.Config{Job: spec.ID, NATS: srv.ClientURL(), Name: fmt.Sprintf("burst%03d", i), //nolint:errcheck // the job's counters tell
				Compute: func(l *wire.Lease) (*wire.Result, error) {
					return &wire.Result{Result: params.Result{Step: int(l.Step), Shard: l.Shard, Version: int(l.Version),
						Loss: math.Log(2), Count: 1, Grads: grads, Stats: stats}}, nil
				}})
		}()
	}
	began := time.Now()
	s, err := d.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v after %v", err, time.Since(began))
	}
	c := s.Counters
	t.Logf("%v: applied %d, leased %d, backups %d, expired %d, lost races %d", time.Since(began), c.Applied, c.Leased, c.Backups, c.Expired, c.LostRaces)
	if c.Expired != 0 || c.Applied != spec.Steps*spec.Shards || s.Dropped != 0 {
		t.Fatalf("%d leases expired, %d of %d shards applied, %d payloads dropped: results were lost", c.Expired, c.Applied, spec.Steps*spec.Shards, s.Dropped)
	}
}
