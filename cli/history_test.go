package cli

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/checkpoints"
)

// TestHistoryOfAStartedJob: start records every step in the store, and
// history exports them as CSV and JSON; a validation's metrics are columns
// of their own, empty at steps not validated.
func TestHistoryOfAStartedJob(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "job.yaml")
	yaml := "id: hist\nloss: triplet\nsize: 16\ntriplets: 4\nshards: 2\nsteps: 4\nseed: 9\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "fsl.db")
	out, err := runCoord(t, "start", "--config", cfg, "--local-workers", "1", "--listen", "127.0.0.1:0",
		"--http", "", "--eval-episodes", "0", "--quiet", "--db", db)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	// A validation metric at step 2, as --eval-every would record it.
	st, err := checkpoints.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.History("hist")
	if err == nil && len(recs) == 4 {
		recs[1].Metrics = map[string]float64{"val_acc": 0.75}
		err = st.AppendHistory("hist", recs[1:2])
	}
	st.Close()
	if err != nil || len(recs) != 4 {
		t.Fatalf("stored history: %d records, %v; want 4", len(recs), err)
	}

	out, err = runCoord(t, "history", "--db", db, "--job", "hist")
	if err != nil {
		t.Fatalf("history: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("history is not CSV: %v\n%s", err, out)
	}
	if len(rows) != 5 || strings.Join(rows[0], ",") != "step,time,loss,images_per_s,workers,val_acc" {
		t.Fatalf("CSV:\n%s", out)
	}
	for i, r := range rows[1:] {
		wantVal := ""
		if i == 1 {
			wantVal = "0.75"
		}
		if r[0] != string(rune('1'+i)) || r[2] == "" || r[4] != "1" || r[5] != wantVal {
			t.Errorf("CSV row %d: %v", i+1, r)
		}
	}

	out, err = runCoord(t, "history", "--db", db, "--job", "hist", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var js []historyJSON
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js) != 4 {
		t.Fatalf("history --json: %v, %d records:\n%s", err, len(js), out)
	}
	if js[1].Metrics["val_acc"] == nil || *js[1].Metrics["val_acc"] != 0.75 || js[0].Metrics != nil || js[3].Loss == nil {
		t.Errorf("history --json records %+v", js)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--job", "nope"}, `job "nope" is not in`},
		{[]string{"--job", "hist", "--csv", "--json"}, "choose one"},
		{[]string{"--job", "hist", "extra"}, "no arguments"},
	} {
		_, err := runCoord(t, append([]string{"history", "--db", db}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("history %v: %v, want an error with %q", bad.args, err, bad.want)
		}
		if bad.args[1] == "nope" && !errors.Is(err, checkpoints.ErrNotFound) {
			t.Errorf("unknown job: %v does not wrap ErrNotFound", err)
		}
	}
}
