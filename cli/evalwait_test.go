package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// putStatus stores job "j" with the given status (t.Error: it may run on
// another goroutine).
func putStatus(t *testing.T, db string, status checkpoints.Status) {
	t.Helper()
	st, err := checkpoints.Open(db)
	if err != nil {
		t.Error(err)
		return
	}
	defer st.Close()
	if err := st.PutJob(checkpoints.JobRecord{ID: "j", Status: status}); err != nil {
		t.Error(err)
	}
}

func TestEvalWaitsUntilTheJobIsDone(t *testing.T) {
	tests := []struct {
		name    string
		initial checkpoints.Status // "": no store at all
		hold    bool               // a writer holds the store meanwhile
		finish  bool               // the job is marked done after 300ms
		wantErr string
		wantLog []string
	}{
		{"already done", checkpoints.StatusDone, false, false, "", nil},
		{"finishes while waiting", checkpoints.StatusRunning, false, true, "",
			[]string{`waiting for job "j" to finish training`, "(running)", `job "j" is done`}},
		{"failed, then resumed and finished", checkpoints.StatusFailed, false, true, "", []string{"(failed)", "is done"}},
		{"store not there yet", "", false, false, "not done", []string{"(no store yet)"}},
		{"held by the coordinator", checkpoints.StatusRunning, true, false, "not done", []string{"(the coordinator holds the store)"}},
		{"never finishes", checkpoints.StatusRunning, false, false, `--wait 1s: job "j" is not done`, []string{"(running)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "fsl.db")
			if tc.initial != "" {
				putStatus(t, db, tc.initial)
			}
			if tc.hold {
				st, err := checkpoints.Open(db)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
			}
			if tc.finish {
				timer := time.AfterFunc(300*time.Millisecond, func() { putStatus(t, db, checkpoints.StatusDone) })
				defer timer.Stop()
			}
			var log syncBuffer
			began := time.Now()
			err := waitForJobDone(context.Background(), db, "j", time.Second, 50*time.Millisecond, &log)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if tc.finish && time.Since(began) < 300*time.Millisecond {
				t.Errorf("returned after %v, before the job was done", time.Since(began))
			}
			for _, w := range tc.wantLog {
				if !strings.Contains(log.String(), w) {
					t.Errorf("log %q does not say %q", log.String(), w)
				}
			}
			if tc.wantLog == nil && log.String() != "" {
				t.Errorf("log %q for a job done from the start", log.String())
			}
		})
	}
}

func TestEvalWaitRunsOnceTheJobIsDone(t *testing.T) {
	db := evalJob(t, glyphSpec(), func(r *checkpoints.JobRecord) { r.Status = checkpoints.StatusDone })
	out, _, err := runEval(t, "--db", db, "--job", "j", "--wait", "1m", "--way", "2", "--query", "1", "--episodes", "2", "--json", "--quiet")
	if err != nil || decodeEval(t, out).Step != 20 {
		t.Fatalf("eval --wait: %v\n%s", err, out)
	}
	if _, _, err := runEval(t, "--db", db, "--job", "j", "--wait", "-1s"); err == nil || !strings.Contains(err.Error(), "--wait") {
		t.Errorf("eval --wait -1s = %v, want an error naming --wait", err)
	}
}
