package coordinator

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/params"
)

// TestHistoryRecorderWritesInBatches: steps are held until a checkpoint,
// FlushEvery of waiting, or Close, then written in one batch; a step's
// validation metrics go into its record; a store that cannot be written
// holds the steps for the next batch.
func TestHistoryRecorderWritesInBatches(t *testing.T) {
	db := filepath.Join(t.TempDir(), "fsl.db")
	s, err := checkpoints.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	layout := params.Layout{Entries: []params.Entry{{Name: "w", Shape: []int{2}}}}
	if err := s.PutJob(checkpoints.JobRecord{ID: "j", Layout: layout}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	stored := func() string {
		t.Helper()
		s, err := checkpoints.Open(db, checkpoints.WithReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h, err := s.History("j")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range h {
			out = append(out, fmt.Sprintf("%d:%v", r.Step, r.Metrics["val_acc"]))
		}
		return fmt.Sprint(out)
	}

	now := t0
	r := NewHistoryRecorder(db, "j", 5*time.Second, slog.New(slog.DiscardHandler))
	r.now = func() time.Time { return now }
	step := func(s int) {
		now = now.Add(time.Second)
		r.StepApplied(Progress{Step: s, Loss: 1, Images: 10 * s, Elapsed: time.Duration(s) * time.Second, Workers: 1})
	}
	step(1)
	step(2)
	if got := stored(); got != "[]" {
		t.Fatalf("after 2 steps and no checkpoint: %s, want nothing written yet", got)
	}
	r.Validated(3, map[string]float64{"val_acc": 0.5})
	step(3)
	r.Checkpointed(3, time.Millisecond)
	if got := stored(); got != "[1:0 2:0 3:0.5]" {
		t.Fatalf("after the checkpoint: %s", got)
	}
	for s := 4; s <= 9; s++ { // 6 s of steps: the 5 s bound writes them
		step(s)
	}
	if got := stored(); got != "[1:0 2:0 3:0.5 4:0 5:0 6:0 7:0 8:0 9:0]" {
		t.Fatalf("after 6 s of steps: %s", got)
	}
	step(10)
	r.path = filepath.Join(t.TempDir(), "missing", "fsl.db") // writes fail now
	r.store.Close()
	r.store = nil
	if err := r.Flush(); err == nil {
		t.Fatal("flush into a missing store succeeded")
	}
	if len(r.pending) != 1 {
		t.Fatalf("%d steps held after a failed write, want 1", len(r.pending))
	}
	r.path = db
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "[1:0 2:0 3:0.5 4:0 5:0 6:0 7:0 8:0 9:0 10:0]" {
		t.Fatalf("after Close: %s", got)
	}
}

// TestHistoryRestoreThenResume: a restored history is continued by the
// live steps, and a resumed job's recomputed steps replace the restored
// ones from there on.
func TestHistoryRestoreThenResume(t *testing.T) {
	h := NewHistory(0)
	var recs []checkpoints.HistoryRecord
	for s := 1; s <= 8; s++ {
		r := checkpoints.HistoryRecord{Step: uint64(s), Time: t0.Add(time.Duration(s) * time.Second), Loss: float64(s), ImagesPerSecond: 5}
		if s%3 == 0 {
			r.Metrics = map[string]float64{"val_acc": float64(s) / 10}
		}
		recs = append(recs, r)
	}
	h.Restore(recs)
	// The checkpoint was at 6: steps 7 and 8 are computed again.
	h.Validated(7, map[string]float64{"val_acc": 0.99})
	h.StepApplied(Progress{Step: 7, Loss: 70, Images: 10, Elapsed: time.Second})
	snap := h.Snapshot()
	var steps, vals []string
	for _, p := range snap.Steps {
		steps = append(steps, fmt.Sprintf("%d:%v:%v", p.Step, p.Loss, p.Restored))
	}
	for _, v := range snap.Validation {
		vals = append(vals, fmt.Sprintf("%d:%v", v.Step, v.Metrics["val_acc"]))
	}
	if got := fmt.Sprint(steps); got != "[1:1:true 2:2:true 3:3:true 4:4:true 5:5:true 6:6:true 7:70:false]" {
		t.Errorf("steps %s", got)
	}
	if got := fmt.Sprint(vals); got != "[3:0.3 6:0.6 7:0.99]" {
		t.Errorf("validations %s", got)
	}
}
