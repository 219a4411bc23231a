package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/model"
)

func TestStartTakesAYAMLJobAndFlagsOverrideIt(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "job.yaml")
	yaml := "id: yamljob\nloss: triplet\nsize: 16\ntriplets: 4\nshards: 2\nsteps: 50\nseed: 9\noptimizer:\n  name: sgd\n  lr: 0.05\n  momentum: 0.9\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	st := startedStore(t, filepath.Join(dir, "fsl.db"), "--config", cfg, "--steps", "2")
	rec, err := st.Job("yamljob")
	if err != nil {
		t.Fatalf("job from the YAML id: %v", err)
	}
	var spec coordinator.JobSpec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Loss != "triplet" || spec.Size != 16 || spec.Triplets != 4 || spec.Seed != 9 || spec.Optimizer.Name != "sgd" ||
		spec.Optimizer.Momentum != 0.9 || spec.Steps != 2 {
		t.Fatalf("stored spec %+v: want the YAML's fields with --steps 2 over its 50", spec)
	}
	c, err := st.Latest("yamljob")
	if err != nil || c.Step != 2 {
		t.Fatalf("latest checkpoint %v, %v: want step 2", c, err)
	}
}

func TestStartRejectsBadConfigs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown YAML field", []string{"--config", write("typo.yaml", "id: x\nstepz: 3\n")}, "stepz"},
		{"missing config file", []string{"--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"unknown loss", []string{"--loss", "contrastive"}, "contrastive"},
		{"bad job id", []string{"--job", "a.b"}, "job id"},
		{"zero shards in YAML", []string{"--config", write("shards.yaml", "shards: -1\n")}, "shards"},
		{"bad optimizer", []string{"--optimizer", "lamb"}, "lamb"},
		{"unknown mining", []string{"--loss", "triplet", "--mining", "hardest"}, `triplet.mining: mining "hardest"`},
		{"mining without the triplet loss", []string{"--config", write("mining.yaml", "loss: proto\ntriplet:\n  mining: semi-hard\n")}, "the proto loss mines nothing"},
		{"one image per class", []string{"--loss", "triplet", "--mining", "batch-hard", "--images-per-class", "1"}, "triplet.images 1"},
		{"compute class not a canary", []string{"--compute-class", "cpu amd64"}, `--compute-class: compute_class "cpu amd64": want a worker's canary`},
		{"compute class too short", []string{"--config", write("class.yaml", "compute_class: 0123abc\n")}, `compute_class "0123abc": want a worker's canary`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"start", "--db", filepath.Join(dir, "x.db"), "--http", "", "--listen", "127.0.0.1:0"}, tc.args...)
			out, err := runCoord(t, args...)
			if err == nil {
				t.Fatalf("start %v succeeded:\n%s", tc.args, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestProgressWithJSONLogsIsJSON(t *testing.T) {
	for _, progress := range []string{"always", "auto"} {
		t.Run(progress, func(t *testing.T) {
			app := NewCoordApp()
			var out, errOut bytes.Buffer
			app.Writer, app.ErrWriter = &out, &errOut
			app.ExitErrHandler = func(*cli.Context, error) {}
			err := Run(context.Background(), app, []string{"fsl-coord", "start", "--steps", "4", "--local-workers", "1", "--listen", "127.0.0.1:0",
				"--http", "", "--eval-episodes", "0", "--db", filepath.Join(t.TempDir(), "fsl.db"), "--log-format", "json", "--log-level", "info",
				"--progress", progress})
			if err != nil {
				t.Fatalf("start: %v\n%s\n%s", err, out.String(), errOut.String())
			}
			records := 0
			for _, line := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("stderr line %q is not JSON: %v", line, err)
				}
				if rec["msg"] == "progress" {
					records++
				}
			}
			// --progress always: a record every 10% of the job (every step of
			// 4); auto: none, stderr being no terminal.
			if want := map[string]int{"always": 4, "auto": 0}[progress]; records != want {
				t.Errorf("%d progress records, want %d:\n%s", records, want, errOut.String())
			}
			if strings.Contains(out.String(), "step 4/4") {
				t.Errorf("progress on stdout:\n%s", out.String())
			}
		})
	}
}

func TestRerunWithOtherSettingsIsRefusedBeforeAnythingStarts(t *testing.T) {
	db := filepath.Join(t.TempDir(), "fsl.db")
	args := []string{"start", "--steps", "2", "--local-workers", "1", "--listen", "127.0.0.1:0", "--http", "", "--eval-episodes", "0", "--db", db}
	if out, err := runCoord(t, args...); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	out, err := runCoord(t, append(args, "--way", "5", "--data", "glyphs:seed=3")...)
	if err == nil {
		t.Fatalf("rerun with other settings succeeded:\n%s", out)
	}
	for _, want := range []string{"  --way: 10 → 5", `  --data (dataset): "glyphs" → "glyphs:seed=3"`, "--job fsl-2", "--db other.db"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not hold %q:\n%v", want, err)
		}
	}
	if strings.Contains(out, "embedded NATS") || strings.Contains(out, "job fsl:") {
		t.Errorf("started before refusing:\n%s", out)
	}
	// more steps only: it resumes, and says so first
	out, err = runCoord(t, append(args[:2:2], append([]string{"3"}, args[3:]...)...)...)
	if first, _, _ := strings.Cut(out, "\n"); err != nil || first != "resuming job fsl from step 2 of 3 (the newest checkpoint in "+db+")" {
		t.Errorf("rerun with --steps 3: %v, first line %q\n%s", err, first, out)
	}
	// the same again: the job is done, and the first line says what to do
	out, err = runCoord(t, append(args[:2:2], append([]string{"3"}, args[3:]...)...)...)
	if first, _, _ := strings.Cut(out, "\n"); err != nil || first != "job fsl is done in "+db+" (step 3 of 3): nothing to train; for a new run: --job other, fsl-coord checkpoints rm --db "+db+" --job fsl, or rm "+db {
		t.Errorf("rerun of a done job: %v, first line %q\n%s", err, first, out)
	}
}

func TestStoppedSaysWhereAndHowToResume(t *testing.T) {
	db := evalJob(t, glyphSpec(), nil) // job "j", checkpoints at 10 and 20
	spec := glyphSpec()
	spec.ID, spec.Steps = "j", 400
	for _, tc := range []struct {
		format string
		sig    syscall.Signal
		code   int
		want   string
	}{
		{"text", syscall.SIGTERM, 143, "stopped by SIGTERM: its newest checkpoint is step 20 of 400 in " + db + "; run the same command again to resume job j\n"},
		{"text", syscall.SIGINT, 130, "stopped by SIGINT (Ctrl-C): its newest checkpoint is step 20 of 400"},
		{"json", syscall.SIGTERM, 143, `"msg":"stopped: run the same command again to resume","job":"j","signal":"SIGTERM","checkpoint_step":20`},
	} {
		t.Run(tc.format+" "+tc.sig.String(), func(t *testing.T) {
			var out bytes.Buffer
			app := &cli.App{Name: "fsl-coord", Writer: &out, ErrWriter: &out, ExitErrHandler: func(*cli.Context, error) {}, Flags: []cli.Flag{logFormatFlag()},
				Action: func(c *cli.Context) error { return stopped(c, tc.sig, spec, db) }}
			err := app.Run([]string{"fsl-coord", "--log-format", tc.format})
			var msg strings.Builder
			if code := exitStatus(&msg, "fsl-coord", err); code != tc.code || msg.Len() > 0 {
				t.Errorf("exit status %d, message %q; want %d and none", code, msg.String(), tc.code)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output %q, want it to hold %q", out.String(), tc.want)
			}
			if tc.format == "json" && !json.Valid(out.Bytes()) {
				t.Errorf("--log-format json: %q is not JSON", out.String())
			}
		})
	}
}

// TestStartEvaluatesTheBestCheckpointOfAValidatedJob: start's closing
// evaluation measures a validated job at its best checkpoint, the one to
// use (and a patience-stopped job's last step is never its best), and a job
// without validation at its last; the line says which.
func TestStartEvaluatesTheBestCheckpointOfAValidatedJob(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"validated", []string{"--eval-every", "1", "--checkpoint-every", "1", "--val-episodes", "10"}},
		{"not validated", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "fsl.db")
			args := append([]string{"start", "--size", "16", "--steps", "4", "--local-workers", "1", "--listen", "127.0.0.1:0",
				"--http", "", "--eval-episodes", "20", "--db", db}, tc.args...)
			out, err := runCoord(t, args...)
			if err != nil {
				t.Fatalf("start: %v\n%s", err, out)
			}
			want := "accuracy on held-out classes (step 4):"
			if tc.args != nil {
				st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
				if err != nil {
					t.Fatal(err)
				}
				best, err := st.Best("fsl")
				st.Close()
				if err != nil {
					t.Fatal(err)
				}
				want = fmt.Sprintf("accuracy on held-out classes (step %d, the best by val_acc):", best.Step)
			}
			if !strings.Contains(out, want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		})
	}
}

// A job file with flags' names that live in blocks names each unknown
// field and the key it may mean, not Go's type names.
func TestJobFileUnknownFieldsNameTheKeyTheyMayMean(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.yaml")
	if err := os.WriteFile(path, []byte("loss: triplet\nmining: batch-hard\nclasses_per_shard: 8\ntemperature: 0.1\nwayy: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readJobFile(path)
	if err == nil {
		t.Fatal("a job file with unknown fields was read")
	}
	for _, want := range []string{
		`line 2: unknown field "mining" (did you mean triplet.mining?)`,
		`line 3: unknown field "classes_per_shard" (did you mean triplet.classes?)`,
		`line 4: unknown field "temperature" (did you mean matching.temperature?)`,
		`line 5: unknown field "wayy"`,
		path,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "coordinator.") {
		t.Errorf("error names a Go type: %v", err)
	}
}

// TestStartHoldsTheJobToTheComputeClassOfTheFlag: --compute-class (a
// canary's first digits) goes into the job's spec, and the job records
// the whole canary of the local worker that matched it.
func TestStartHoldsTheJobToTheComputeClassOfTheFlag(t *testing.T) {
	spec := coordinator.JobSpec{Size: 16, Way: 5, Query: 1, Shards: 1, Steps: 1}.WithDefaults()
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	canary, err := m.Canary()
	if err != nil {
		t.Fatal(err)
	}
	st := startedStore(t, filepath.Join(t.TempDir(), "fsl.db"), "--size", "16", "--way", "5", "--query", "1", "--shards", "1", "--steps", "1",
		"--compute-class", canary[:coordinator.MinComputeClassDigits])
	rec, err := st.Job(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := coordinator.DecodeSpec(rec)
	if err != nil {
		t.Fatal(err)
	}
	if stored.ComputeClass != canary[:coordinator.MinComputeClassDigits] || rec.Class.Canary != canary {
		t.Fatalf("stored compute_class %q, recorded class %+v; want %q and canary %s", stored.ComputeClass, rec.Class, canary[:12], canary)
	}
}

// startedStore runs start with args and one local worker (no monitor, no
// final evaluation, the store db), and opens db read-only until the test
// ends.
func startedStore(t *testing.T, db string, args ...string) *checkpoints.Store {
	t.Helper()
	args = append(append([]string{"start"}, args...), "--local-workers", "1", "--listen", "127.0.0.1:0",
		"--http", "", "--eval-episodes", "0", "--progress", "never", "--db", db)
	if out, err := runCoord(t, args...); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
