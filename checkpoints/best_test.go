package checkpoints

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func saveMetric(t *testing.T, s *Store, job string, step uint64, metrics map[string]float64) {
	t.Helper()
	c := makeCheckpoint(step, 8, 0)
	c.Metrics = metrics
	if err := s.Save(job, c); err != nil {
		t.Fatal(err)
	}
}

func TestBestPointerFollowsMetric(t *testing.T) {
	type save struct {
		step uint64
		val  float64
		has  bool
	}
	tests := []struct {
		name   string
		metric string
		lower  bool
		saves  []save
		want   uint64 // 0: no best
	}{
		{"higher is better by default", "", false, []save{{1, 0.5, true}, {2, 0.7, true}, {3, 0.6, true}}, 2},
		{"lower is better when configured", "val_loss", true, []save{{1, 0.5, true}, {2, 0.7, true}, {3, 0.4, true}}, 3},
		{"ties keep the earlier step", "", false, []save{{1, 0.5, true}, {2, 0.5, true}}, 1},
		{"ties keep the earlier step saved out of order", "", false, []save{{2, 0.5, true}, {1, 0.5, true}}, 1},
		{"NaN never wins", "", false, []save{{1, math.NaN(), true}, {2, 0.1, true}}, 2},
		{"missing metric never wins", "", false, []save{{1, 0, false}, {2, 0, false}}, 0},
		{"overwriting the best re-picks it", "", false, []save{{1, 0.5, true}, {2, 0.9, true}, {2, 0.1, true}}, 1},
		{"overwriting with a better value keeps it", "", false, []save{{1, 0.5, true}, {2, 0.9, true}, {2, 0.95, true}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := tempStore(t)
			rec := testJob("j", 8)
			rec.BestMetric, rec.LowerIsBetter = tt.metric, tt.lower
			if err := s.PutJob(rec); err != nil {
				t.Fatal(err)
			}
			name := tt.metric
			if name == "" {
				name = DefaultBestMetric
			}
			for _, sv := range tt.saves {
				m := map[string]float64{"other": 1}
				if sv.has {
					m[name] = sv.val
				}
				saveMetric(t, s, "j", sv.step, m)
			}
			best, err := s.Best("j")
			if tt.want == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Best = %v, %v; want ErrNotFound", best, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if best.Step != tt.want {
				t.Fatalf("Best step = %d, want %d", best.Step, tt.want)
			}
		})
	}
}

func TestChangingBestMetricRepicksBest(t *testing.T) {
	s, _ := tempStore(t)
	rec := testJob("j", 8)
	if err := s.PutJob(rec); err != nil {
		t.Fatal(err)
	}
	saveMetric(t, s, "j", 1, map[string]float64{"val_acc": 0.9, "val_loss": 0.3})
	saveMetric(t, s, "j", 2, map[string]float64{"val_acc": 0.8, "val_loss": 0.2})
	rec.BestMetric, rec.LowerIsBetter = "val_loss", true
	if err := s.PutJob(rec); err != nil {
		t.Fatal(err)
	}
	best, err := s.Best("j")
	if err != nil {
		t.Fatal(err)
	}
	if best.Step != 2 {
		t.Fatalf("Best step = %d after switching to val_loss, want 2", best.Step)
	}
}

func TestPruneKeepsLastBestAndPointer(t *testing.T) {
	// val_acc by step: the best are 3 (0.9), 7 (0.8), 5 (0.7).
	acc := map[uint64]float64{1: 0.1, 2: 0.2, 3: 0.9, 4: 0.3, 5: 0.7, 6: 0.4, 7: 0.8, 8: 0.5, 9: 0.6, 10: 0.05}
	tests := []struct {
		name               string
		keepLast, keepBest int
		corrupt            []uint64
		wantKept           []uint64
	}{
		{"last three and best two", 3, 2, nil, []uint64{3, 7, 8, 9, 10}},
		{"nothing asked keeps the best pointer", 0, 0, nil, []uint64{3}},
		{"keeping more than exist deletes nothing", 20, 20, nil, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"corrupt ones do not count as last", 2, 0, []uint64{10}, []uint64{3, 8, 9}},
		{"a corrupt best target is kept", 1, 1, []uint64{3}, []uint64{3, 7, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := tempStore(t, WithReleaseBetweenWrites())
			if err := s.PutJob(testJob("j", 8)); err != nil {
				t.Fatal(err)
			}
			for step := uint64(1); step <= 10; step++ {
				saveMetric(t, s, "j", step, map[string]float64{"val_acc": acc[step]})
			}
			for _, step := range tt.corrupt {
				corruptStored(t, path, "j", step, func(b []byte) { b[len(b)-1] ^= 0xff })
			}
			deleted, err := s.Prune("j", tt.keepLast, tt.keepBest)
			if err != nil {
				t.Fatal(err)
			}
			infos, err := s.List("j")
			if err != nil {
				t.Fatal(err)
			}
			var kept []uint64
			for _, in := range infos {
				kept = append(kept, in.Step)
			}
			if !slices.Equal(kept, tt.wantKept) {
				t.Fatalf("kept %v, want %v", kept, tt.wantKept)
			}
			if len(deleted)+len(kept) != 10 {
				t.Fatalf("deleted %v and kept %v do not add up to 10", deleted, kept)
			}
		})
	}
}

// TestRollbackDeletesLaterCheckpointsAndUpdatesTheRecordAtOnce: Rollback
// deletes the checkpoints after its step, re-picks the best among those
// left, and writes the record's update, all in one transaction; an update
// that makes an invalid record changes nothing.
func TestRollbackDeletesLaterCheckpointsAndUpdatesTheRecordAtOnce(t *testing.T) {
	acc := map[uint64]float64{2: 0.2, 4: 0.4, 6: 0.9, 8: 0.5}
	tests := []struct {
		name        string
		after       uint64
		bad         bool
		wantKept    []uint64
		wantBest    uint64
		wantLineage uint64
	}{
		{"past the best", 4, false, []uint64{2, 4}, 4, 1},
		{"keeping the best", 6, false, []uint64{2, 4, 6}, 6, 1},
		{"to before the first", 0, false, nil, 0, 1},
		{"an invalid update changes nothing", 4, true, []uint64{2, 4, 6, 8}, 6, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := tempStore(t, WithReleaseBetweenWrites())
			if err := s.PutJob(testJob("j", 8)); err != nil {
				t.Fatal(err)
			}
			for _, step := range []uint64{2, 4, 6, 8} {
				saveMetric(t, s, "j", step, map[string]float64{"val_acc": acc[step]})
			}
			deleted, err := s.Rollback("j", tt.after, func(r *JobRecord) {
				r.Lineage = 1
				if tt.bad {
					r.Status = "bogus"
				}
			})
			if (err != nil) != tt.bad {
				t.Fatalf("Rollback: %v, want error %v", err, tt.bad)
			}
			infos, err := s.List("j")
			if err != nil {
				t.Fatal(err)
			}
			var kept []uint64
			for _, in := range infos {
				kept = append(kept, in.Step)
			}
			if !slices.Equal(kept, tt.wantKept) || len(kept)+len(deleted) != 4 && !tt.bad {
				t.Fatalf("kept %v (deleted %v), want %v", kept, deleted, tt.wantKept)
			}
			rec, err := s.Job("j")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Lineage != tt.wantLineage {
				t.Errorf("lineage %d, want %d", rec.Lineage, tt.wantLineage)
			}
			best, err := s.Best("j")
			switch {
			case tt.wantBest == 0 && !errors.Is(err, ErrNotFound):
				t.Errorf("Best = %v, %v; want none", best, err)
			case tt.wantBest != 0 && (err != nil || best.Step != tt.wantBest):
				t.Errorf("Best = %v, %v; want step %d", best, err, tt.wantBest)
			}
		})
	}
}
