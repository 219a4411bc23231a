package checkpoints

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSaveThenLoadIsBitIdentical(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"held", nil}, {"release", []Option{WithReleaseBetweenWrites()}}} {
		t.Run(mode.name, func(t *testing.T) {
			s, path := tempStore(t, mode.opts...)
			if err := s.PutJob(testJob("j", 300)); err != nil {
				t.Fatal(err)
			}
			var saved []*Checkpoint
			for step := uint64(1); step <= 5; step++ {
				c := makeCheckpoint(step*10, 300, 7)
				if err := s.Save("j", c); err != nil {
					t.Fatal(err)
				}
				saved = append(saved, c)
			}
			for _, want := range saved {
				got, err := s.At("j", want.Step)
				if err != nil {
					t.Fatal(err)
				}
				equalCheckpoint(t, got, want)
				if got.ParamsSHA256() != want.ParamsSHA256() {
					t.Fatal("params hash differs")
				}
			}
			latest, err := s.Latest("j")
			if err != nil {
				t.Fatal(err)
			}
			equalCheckpoint(t, latest, saved[len(saved)-1])

			// The data survives closing and reopening, read-only.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			r := openTest(t, path, WithReadOnly())
			got, err := r.At("j", 30)
			if err != nil {
				t.Fatal(err)
			}
			equalCheckpoint(t, got, saved[2])
		})
	}
}

func TestOptionalPartsMayBeEmpty(t *testing.T) {
	s, _ := tempStore(t)
	if err := s.PutJob(JobRecord{ID: "bare"}); err != nil {
		t.Fatal(err)
	}
	want := &Checkpoint{Step: 0, Params: nil, Created: time.Unix(5, 0)}
	if err := s.Save("bare", want); err != nil {
		t.Fatal(err)
	}
	got, err := s.At("bare", 0)
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, want)
	if _, err := s.Best("bare"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Best without metric: %v, want ErrNotFound", err)
	}
}

func TestSaveStampsCreatedWithStoreClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	s, _ := tempStore(t, WithClock(func() time.Time { return at }))
	if err := s.PutJob(testJob("j", 4)); err != nil {
		t.Fatal(err)
	}
	c := makeCheckpoint(1, 4, 0)
	c.Created = time.Time{}
	if err := s.Save("j", c); err != nil {
		t.Fatal(err)
	}
	if !c.Created.IsZero() {
		t.Fatal("Save modified the caller's checkpoint")
	}
	got, err := s.At("j", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(at) {
		t.Fatalf("Created = %v, want %v", got.Created, at)
	}
	rec, err := s.Job("j")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Updated.Equal(at) || !rec.Created.Equal(at) || rec.Status != StatusRunning {
		t.Fatalf("record times/status = %v %v %q", rec.Created, rec.Updated, rec.Status)
	}
}

func TestJobRecordRoundTrips(t *testing.T) {
	s, _ := tempStore(t)
	want := testJob("b-job", 12)
	want.Layout.Entries = append(want.Layout.Entries, testLayout(3).Entries[0])
	want.Layout.Entries[1].Name, want.Layout.Entries[1].Offset = "bias", 12
	want.BestMetric, want.LowerIsBetter, want.Status = "val_loss", true, StatusDone
	want.Lineage, want.Banned, want.Trusted = 2, []string{"w-bad"}, map[string]int{"w-1": 3, "w-2": 0}
	if err := s.PutJob(want); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(JobRecord{ID: "a-job"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Job("b-job")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || !bytes.Equal(got.Spec, want.Spec) || got.SpecFormat != want.SpecFormat ||
		got.Dataset != want.Dataset || got.BestMetric != want.BestMetric || !got.LowerIsBetter ||
		got.Status != StatusDone || !got.Layout.Equal(want.Layout) || got.Lineage != 2 ||
		!slices.Equal(got.Banned, want.Banned) || !maps.Equal(got.Trusted, want.Trusted) {
		t.Fatalf("Job = %+v, want %+v", got, want)
	}
	jobs, err := s.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].ID != "a-job" || jobs[1].ID != "b-job" {
		t.Fatalf("Jobs = %v, want a-job, b-job", jobs)
	}
}

func TestRejectsBadInput(t *testing.T) {
	s, _ := tempStore(t)
	if err := s.PutJob(testJob("j", 10)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  func() error
	}{
		{"empty job ID", func() error { return s.PutJob(JobRecord{}) }},
		{"control character in job ID", func() error { return s.PutJob(JobRecord{ID: "a\nb"}) }},
		{"unknown status", func() error { return s.PutJob(JobRecord{ID: "x", Status: "paused"}) }},
		{"gap in layout", func() error {
			r := testJob("y", 3)
			r.Layout.Entries[0].Offset = 1
			return s.PutJob(r)
		}},
		{"save to unknown job", func() error { return s.Save("nope", makeCheckpoint(1, 10, 0)) }},
		{"params not matching layout", func() error { return s.Save("j", makeCheckpoint(1, 11, 0)) }},
		{"nil checkpoint", func() error { return s.Save("j", nil) }},
		{"empty metric name", func() error {
			c := makeCheckpoint(1, 10, 0)
			c.Metrics[""] = 1
			return s.Save("j", c)
		}},
		{"duplicate optimizer vector", func() error {
			c := makeCheckpoint(1, 10, 0)
			c.Optimizer.Vectors[1].Name = "m"
			return s.Save("j", c)
		}},
		{"negative keep", func() error { _, err := s.Prune("j", -1, 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.err(); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := s.At("nope", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("At unknown job: %v, want ErrNotFound", err)
	}
	if _, err := s.At("j", 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("At unknown step: %v, want ErrNotFound", err)
	}
	if _, err := s.Latest("j"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest of empty job: %v, want ErrNotFound", err)
	}
}

func TestLayoutOfJobWithCheckpointsCannotChange(t *testing.T) {
	s, _ := tempStore(t)
	if err := s.PutJob(testJob("j", 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(testJob("j", 11)); err != nil {
		t.Fatalf("changing the layout before any checkpoint: %v", err)
	}
	if err := s.Save("j", makeCheckpoint(1, 11, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(testJob("j", 12)); err == nil {
		t.Fatal("layout change with checkpoints stored was accepted")
	}
	rec := testJob("j", 11)
	rec.Status = StatusDone
	if err := s.PutJob(rec); err != nil {
		t.Fatalf("status update: %v", err)
	}
}

func TestReadOnlyStoreNeitherCreatesNorWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	if _, err := Open(path, WithReadOnly()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open missing read-only: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only Open created %q", path)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Fatalf("read-only Open left files: %v", entries)
	}
	w := openTest(t, path)
	if err := w.PutJob(testJob("j", 4)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := openTest(t, path, WithReadOnly())
	if err := r.Save("j", makeCheckpoint(1, 4, 0)); err == nil {
		t.Fatal("Save on a read-only store succeeded")
	}
	if err := r.PutJob(testJob("k", 4)); err == nil {
		t.Fatal("PutJob on a read-only store succeeded")
	}
}

func TestClosedStoreFails(t *testing.T) {
	s, _ := tempStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Jobs(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Jobs after Close: %v", err)
	}
}

func TestLatestSkipsCorruptAndWarns(t *testing.T) {
	s, path := tempStore(t, WithReleaseBetweenWrites())
	if err := s.PutJob(testJob("j", 50)); err != nil {
		t.Fatal(err)
	}
	for step := uint64(1); step <= 3; step++ {
		if err := s.Save("j", makeCheckpoint(step, 50, 2)); err != nil {
			t.Fatal(err)
		}
	}
	corruptStored(t, path, "j", 3, func(b []byte) { b[len(b)/2] ^= 0x40 })
	var logs bytes.Buffer
	r := openTest(t, path, WithReadOnly(), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	got, err := r.Latest("j")
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != 2 {
		t.Fatalf("Latest fell back to step %d, want 2", got.Step)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "step 3") {
		t.Fatalf("no warning naming step 3 was logged: %q", logs.String())
	}
	if _, err := r.At("j", 3); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"j" at step 3`) {
		t.Fatalf("At corrupt step: %v, want ErrCorrupt naming job and step", err)
	}
	infos, err := r.List("j")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 || infos[0].Err != nil || infos[1].Err != nil || !errors.Is(infos[2].Err, ErrCorrupt) {
		t.Fatalf("List errors: %v %v %v", infos[0].Err, infos[1].Err, infos[2].Err)
	}

	// With every checkpoint corrupt, Latest says so.
	r.Close()
	for step := uint64(1); step <= 2; step++ {
		corruptStored(t, path, "j", step, func(b []byte) { b[0] ^= 1 })
	}
	r = openTest(t, path, WithReadOnly())
	if _, err := r.Latest("j"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Latest with all corrupt: %v, want ErrCorrupt", err)
	}
}

func TestListDescribesWithoutVectors(t *testing.T) {
	s, _ := tempStore(t)
	if err := s.PutJob(testJob("j", 100)); err != nil {
		t.Fatal(err)
	}
	want := makeCheckpoint(6, 100, 3) // val_acc 6/7, the best of 1..6
	for step := uint64(1); step <= 6; step++ {
		if err := s.Save("j", makeCheckpoint(step, 100, 3)); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := s.List("j")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 6 {
		t.Fatalf("List has %d entries, want 6", len(infos))
	}
	last := infos[5]
	if last.Step != 6 || last.ParamCount != 100 || last.StateCount != 3 || last.OptimizerCount != 200 ||
		last.ParamsSHA256 != want.ParamsSHA256() || !last.Best || last.Err != nil ||
		!sameFloats(last.Metrics, want.Metrics) || !last.Created.Equal(want.Created) {
		t.Fatalf("List[5] = %+v", last)
	}
	for _, in := range infos[:5] {
		if in.Best {
			t.Fatalf("step %d marked best too", in.Step)
		}
	}
}
