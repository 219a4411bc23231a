package coordinator_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// TestResumeFinishesARollbackTheLastRunBegan: a coordinator that stopped
// after recording a ban and before its rollback leaves the banned worker
// among the trusted ones of its record. The next run must finish the
// rollback before it resumes — delete the checkpoints after the banned
// worker's first unchecked step, start from the newest before it in a new
// lineage — and still end with the parameters of a clean run.
func TestResumeFinishesARollbackTheLastRunBegan(t *testing.T) {
	spec := coordinator.JobSpec{ID: "rb", Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 2, Steps: 8, Seed: 4, CheckpointEvery: 2}.WithDefaults()
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	db := filepath.Join(t.TempDir(), "fsl.db")
	run := func() *coordinator.Summary {
		t.Helper()
		nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "coord"})
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		d, err := coordinator.NewDriver(coordinator.DriverConfig{Spec: spec, DB: db, Conn: nc, Linger: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		go func() {
			if _, err := worker.Run(ctx, worker.Config{Job: spec.ID, NATS: srv.ClientURL(), Name: "w"}); err != nil {
				t.Error(err)
			}
		}()
		s, err := d.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	clean := run()

	st, err := checkpoints.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Job(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// As recordBan leaves it: "bad" banned, still trusted from step 5.
	rec.Banned, rec.Trusted = []string{"bad"}, map[string]int{"bad": 5, "w-early": 1}
	rec.Status = checkpoints.StatusRunning
	if err := st.PutJob(rec); err != nil {
		t.Fatal(err)
	}
	st.Close()

	again := run()
	if again.ResumedFrom != 4 {
		t.Errorf("resumed from step %d, want 4 (the newest checkpoint before step 5)", again.ResumedFrom)
	}
	if again.ParamsSHA256 != clean.ParamsSHA256 {
		t.Errorf("params %s after the rollback, %s in the clean run", again.ParamsSHA256, clean.ParamsSHA256)
	}
	st, err = checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err = st.Job(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Lineage != 1 || !slices.Equal(rec.Banned, []string{"bad"}) || rec.Trusted["bad"] != 0 || rec.Trusted["w-early"] != 1 {
		t.Errorf("record after the rollback: lineage %d, banned %v, trusted %v; want 1, [bad], w-early from 1 only",
			rec.Lineage, rec.Banned, rec.Trusted)
	}
}
