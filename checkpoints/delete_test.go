package checkpoints

import (
	"errors"
	"testing"
)

// TestDeleteJobFreesItsID: DeleteJob takes a job's record, checkpoints,
// best pointer, history and queue entry and leaves every other job as it
// was; the ID can then hold a new job; an ID the store never held is
// ErrNotFound, and a job that only ever was queued loses its entry.
func TestDeleteJobFreesItsID(t *testing.T) {
	s, _ := tempStore(t)
	for _, id := range []string{"a", "b"} {
		if err := s.PutJob(testJob(id, 8)); err != nil {
			t.Fatal(err)
		}
		for step := uint64(1); step <= 3; step++ {
			if err := s.Save(id, makeCheckpoint(step, 8, 2)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AppendHistory(id, historySeeds()[:1]); err != nil {
			t.Fatal(err)
		}
		if err := s.PutQueueEntry(id, []byte(`{"id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutQueueEntry("only-queued", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		id      string
		want    int
		wantErr error
	}{
		{"a", 3, nil},
		{"a", 0, ErrNotFound}, // gone
		{"never", 0, ErrNotFound},
		{"only-queued", 0, nil},
	} {
		n, err := s.DeleteJob(tc.id)
		if n != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Fatalf("DeleteJob(%q) = %d, %v; want %d, %v", tc.id, n, err, tc.want, tc.wantErr)
		}
	}
	if _, err := s.Job("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("job record of a after DeleteJob: %v, want ErrNotFound", err)
	}
	if _, err := s.Latest("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("checkpoint of a after DeleteJob: %v, want ErrNotFound", err)
	}
	q, err := s.QueueEntries()
	if err != nil || len(q) != 1 || q[0].ID != "b" {
		t.Errorf("queue after the deletes: %v, %v; want b's entry only", q, err)
	}
	// b is untouched
	if c, err := s.Latest("b"); err != nil || c.Step != 3 {
		t.Errorf("b's newest checkpoint after a's delete: %v, %v", c, err)
	}
	if h, err := s.History("b"); err != nil || len(h) != 1 {
		t.Errorf("b's history after a's delete: %d records, %v", len(h), err)
	}
	// the ID takes a new job
	if err := s.PutJob(testJob("a", 4)); err != nil {
		t.Fatalf("a new job a after the delete: %v", err)
	}
	if h, err := s.History("a"); err != nil || len(h) != 0 {
		t.Errorf("the new job a inherits history: %d records, %v", len(h), err)
	}
}
