package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/urfave/cli/v2"
)

// evalGlyphs is a small synthetic dataset: 5 alphabets (3 background, 2
// evaluation) of 5 characters drawn 6 times.
const evalGlyphs = "glyphs:seed=3,alphabets=5,chars=5,drawers=6"

// runEval runs `fsl-coord eval args...` and returns stdout and stderr apart.
func runEval(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	app := NewCoordApp()
	var out, errw bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errw
	app.ExitErrHandler = func(*cli.Context, error) {}
	err = Run(context.Background(), app, append([]string{"fsl-coord", "eval"}, args...))
	return out.String(), errw.String(), err
}

// evalJob writes a store holding job "j" trained (in name only: parameters
// initialised from the seed) by spec, with checkpoints at steps 10 and 20.
// edit, when set, changes the job record before it is stored.
func evalJob(t *testing.T, spec coordinator.JobSpec, edit func(*checkpoints.JobRecord)) string {
	t.Helper()
	spec.ID = "j"
	spec = spec.WithDefaults()
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	train, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		t.Fatal(err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	rec := checkpoints.JobRecord{ID: spec.ID, Spec: specJSON, SpecFormat: "json", Layout: m.Layout(), Dataset: train.Fingerprint()}
	if edit != nil {
		edit(&rec)
	}
	db := filepath.Join(t.TempDir(), "fsl.db")
	st, err := checkpoints.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutJob(rec); err != nil {
		t.Fatal(err)
	}
	for _, step := range []uint64{10, 20} {
		p, s := m.Init(spec.Seed + step)
		if err := st.Save(spec.ID, &checkpoints.Checkpoint{Step: step, Params: p, State: s, Metrics: map[string]float64{"val_acc": float64(step)}}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func glyphSpec() coordinator.JobSpec {
	return coordinator.JobSpec{Dataset: evalGlyphs, Size: 16}
}

func decodeEval(t *testing.T, s string) evalOutput {
	t.Helper()
	var out evalOutput
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("%v in %q", err, s)
	}
	return out
}

func TestEvalEvaluatesEveryWayShotCombination(t *testing.T) {
	db := evalJob(t, glyphSpec(), nil)
	args := []string{"--db", db, "--job", "j", "--way", "2,3", "--shot", "1", "--shot", "2", "--query", "2", "--episodes", "6", "--seed", "7", "--json", "--quiet"}
	stdout, _, err := runEval(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeEval(t, stdout)
	test, err := episodes.Open(evalGlyphs, episodes.Options{Size: 16, Split: episodes.SplitTest})
	if err != nil {
		t.Fatal(err)
	}
	if out.Job != "j" || out.Step != 20 || len(out.ParamsSHA256) != 64 || !out.Dataset.Checked || out.Dataset.Fingerprint != test.Fingerprint() {
		t.Errorf("header %+v", out)
	}
	want := [][2]int{{2, 1}, {2, 2}, {3, 1}, {3, 2}}
	if len(out.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(out.Results), len(want))
	}
	for i, r := range out.Results {
		if r.Way != want[i][0] || r.Shot != want[i][1] || r.Seed != 7 || r.Episodes != 6 || r.Query != 2 ||
			r.Fingerprint != test.Fingerprint() || !strings.Contains(r.Protocol, fmt.Sprintf("%d-way %d-shot", r.Way, r.Shot)) {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	again, _, err := runEval(t, args...)
	if err != nil || again != stdout {
		t.Errorf("same flags, another output (%v):\n%s\n%s", err, stdout, again)
	}
	// The table prints the protocol, seed and fingerprint on every row.
	table, stderr, err := runEval(t, "--db", db, "--job", "j", "--checkpoint", "10", "--way", "2,4", "--query", "2", "--episodes", "4", "--progress", "always")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^random episodes, (\d)-way 1-shot, 2 queries per class\s+prototype\s+[\d.]+%\s+± [\d.]+%\s+4 episodes\s+1\s+\S+\s+`+test.Fingerprint()[:16]+`$`).FindAllStringSubmatch(table, -1)
	if len(rows) != 2 || rows[0][1] != "2" || rows[1][1] != "4" || !strings.Contains(table, "checkpoint step 10") {
		t.Errorf("table:\n%s", table)
	}
	if !strings.Contains(stderr, "2-way 1-shot") {
		t.Errorf("--progress always: no progress bar on stderr: %q", stderr)
	}
	if _, stderr, err := runEval(t, "--db", db, "--job", "j", "--way", "2", "--query", "2", "--episodes", "4"); err != nil || stderr != "" {
		t.Errorf("--progress auto, stderr not a terminal: %v, stderr %q; want nothing", err, stderr)
	}
}

func TestEvalFromAnExportMatchesTheStore(t *testing.T) {
	db := evalJob(t, glyphSpec(), nil)
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	exp := filepath.Join(t.TempDir(), "j.fslck")
	err = st.ExportFile("j", 10, exp)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"--way", "3", "--query", "2", "--episodes", "5", "--json", "--quiet"}
	fromStore, _, err := runEval(t, append([]string{"--db", db, "--job", "j", "--checkpoint", "10"}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, err := runEval(t, append([]string{"--from", exp}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	a, b := decodeEval(t, fromStore), decodeEval(t, fromFile)
	if a.ParamsSHA256 != b.ParamsSHA256 || a.Step != 10 || b.Step != 10 || a.Results[0] != b.Results[0] || b.Source != exp {
		t.Errorf("store %+v\nexport %+v", a, b)
	}
}

func TestEvalRefusesBadInput(t *testing.T) {
	db := evalJob(t, glyphSpec(), nil)
	// A record whose spec asks for the Siamese loss while its layout and
	// parameters are the prototypical network's.
	mismatched := evalJob(t, glyphSpec(), func(r *checkpoints.JobRecord) {
		s := glyphSpec()
		s.ID, s.Loss = "j", "siamese"
		r.Spec, _ = json.Marshal(s)
	})
	// A record without a layout whose spec's image size differs.
	resized := evalJob(t, glyphSpec(), func(r *checkpoints.JobRecord) {
		s := glyphSpec()
		s.ID, s.Size, s.Loss = "j", 32, "siamese"
		r.Spec, _ = json.Marshal(s)
		r.Layout.Entries = nil
	})
	badRuns := t.TempDir()
	if err := os.WriteFile(filepath.Join(badRuns, "all_runs.zip"), []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(t.TempDir(), "bad.fslck")
	if err := os.WriteFile(corrupt, []byte("FSLCKEXP garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	quick := []string{"--episodes", "2", "--query", "1", "--quiet"}
	tests := []struct {
		name string
		args []string
		msgs []string
	}{
		{"unknown job", []string{"--db", db, "--job", "nope"}, []string{`job "nope" is not in`, `(it holds "j")`}},
		{"default job not in the store", []string{"--db", db}, []string{`job "fsl" is not in`, `(it holds "j")`}},
		{"missing store", []string{"--db", filepath.Join(t.TempDir(), "none.db"), "--job", "j"}, []string{"none.db", "no such file"}},
		{"missing checkpoint", []string{"--db", db, "--job", "j", "--checkpoint", "15"}, []string{`job "j"`, "checkpoint 15", "not found"}},
		{"bad checkpoint selector", []string{"--db", db, "--job", "j", "--checkpoint", "newest"}, []string{`checkpoint "newest"`, "latest, best or a step"}},
		{"layout differs from the spec's model", []string{"--db", mismatched, "--job", "j"}, []string{"loss siamese", "the spec and the parameters disagree"}},
		{"parameter count differs from the spec's model", []string{"--db", resized, "--job", "j"}, []string{"32×32", "checkpoint 20", "the checkpoint 111680"}},
		{"another dataset", []string{"--db", db, "--job", "j", "--data", "glyphs:seed=4,alphabets=5,chars=5,drawers=6"},
			[]string{"training split", `job "j" trained on`, "--force"}},
		{"malformed all_runs.zip", []string{"--db", db, "--job", "j", "--data", badRuns, "--official-runs"}, []string{"all_runs.zip", "not a zip"}},
		{"official runs on glyphs", []string{"--db", db, "--job", "j", "--official-runs"}, []string{"--official-runs needs an Omniglot"}},
		{"siamese classifier without a head", []string{"--db", db, "--job", "j", "--classifier", "siamese"}, []string{"no Siamese head"}},
		{"unknown classifier", []string{"--db", db, "--job", "j", "--classifier", "cosine"}, []string{"--classifier", "cosine"}},
		{"way of one", []string{"--db", db, "--job", "j", "--way", "1"}, []string{"--way 1"}},
		{"more ways than classes", []string{"--db", db, "--job", "j", "--way", "50"}, []string{"50-way"}},
		{"corrupt export", []string{"--from", corrupt}, []string{"bad.fslck", "corrupt"}},
		{"export of another job", []string{"--from", exportOf(t, db), "--job", "k"}, []string{`holds job "j", not --job "k"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runEval(t, append(tc.args, quick...)...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, m := range tc.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
		})
	}
	// --force evaluates another dataset anyway, and says it was not checked.
	out, _, err := runEval(t, append([]string{"--db", db, "--job", "j", "--data", "glyphs:seed=4,alphabets=5,chars=5,drawers=6", "--force"}, quick...)...)
	if err != nil || !strings.Contains(out, "NOT checked") {
		t.Errorf("--force: %v\n%s", err, out)
	}
}

func exportOf(t *testing.T, db string) string {
	t.Helper()
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := filepath.Join(t.TempDir(), "export.fslck")
	if err := st.ExportFile("j", 20, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEvalAsksTheCoordinatorWhenTheStoreIsHeld(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		evalAsksTheCoordinator(t, transport.ServerOptions{Token: "s3cret"}, []string{"--token", "s3cret"}, []string{"--token", "wrong"})
	})
	t.Run("TLS with client certificates", func(t *testing.T) {
		pki := newTestPKI(t)
		opts := transport.ServerOptions{TLS: pki.serverTLS(t)}
		evalAsksTheCoordinator(t, opts, []string{"--tls-ca", pki.ca, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey},
			[]string{"--tls-ca", pki.ca})
	})
}

// evalAsksTheCoordinator checks that eval, with clientArgs, reads a checkpoint
// from a fake coordinator on a server started with opts when the store is
// held, and fails with wrongArgs.
func evalAsksTheCoordinator(t *testing.T, opts transport.ServerOptions, clientArgs, wrongArgs []string) {
	db := evalJob(t, glyphSpec(), nil)
	// A writer without release-between-writes holds the file until Close,
	// as a coordinator could.
	held, err := checkpoints.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	srv, err := transport.StartServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Token: opts.Token, InProcess: srv})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subj, err := wire.NewSubjects("j")
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan string, 4)
	sub, err := nc.Subscribe(subj.Checkpoint, func(m wire.Message, reply string) {
		req := m.(*wire.CheckpointRequest)
		asked <- req.Which
		var buf bytes.Buffer
		if err := held.Export("j", 10, &buf); err != nil {
			nc.Send(reply, &wire.Error{Code: wire.CodeInternal, Text: err.Error()})
			return
		}
		nc.Send(reply, &wire.Checkpoint{Step: 10, Body: buf.Bytes()})
	}, transport.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	common := []string{"--db", db, "--job", "j", "--checkpoint", "10", "--lock-timeout", "100ms", "--way", "2", "--episodes", "2", "--query", "1", "--json", "--quiet"}
	if _, _, err := runEval(t, common...); err == nil || !strings.Contains(err.Error(), "--nats") {
		t.Errorf("held store without --nats: %v", err)
	}
	url := "nats://" + srv.Addr().String()
	stdout, _, err := runEval(t, append(append(common, "--nats", url, "--nats-timeout", "20s"), clientArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeEval(t, stdout)
	select {
	case w := <-asked:
		if w != "10" {
			t.Errorf("coordinator asked for %q, want 10", w)
		}
	case <-time.After(5 * time.Second):
		t.Error("the coordinator was never asked")
	}
	if out.Step != 10 || !strings.Contains(out.Source, "coordinator") || len(out.Results) != 1 {
		t.Errorf("output %+v", out)
	}
	if _, _, err := runEval(t, append(append(common, "--nats", url, "--nats-timeout", "2s"), wrongArgs...)...); err == nil {
		t.Errorf("eval with %v: no error", wrongArgs)
	}
}

// omniglotLike writes images_evaluation.zip (2 alphabets × 3 characters ×
// 20 drawers of w×w PNGs) and a synthetic all_runs.zip into a new folder.
func omniglotLike(t *testing.T, w int) string {
	t.Helper()
	dir := t.TempDir()
	pngOf := func(seed int) []byte {
		// Row b is a black stroke when bit b of seed is set: distinct
		// seeds below 1<<w draw distinct images.
		img := image.NewGray(image.Rect(0, 0, w, w))
		for i := range img.Pix {
			img.Pix[i] = 255
			if seed>>(i/w)&1 == 1 {
				img.Pix[i] = 0
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	write := func(name string, files map[string][]byte) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for n, b := range files {
			f, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(b)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ev := map[string][]byte{}
	for a := 0; a < 2; a++ {
		for c := 1; c <= 3; c++ {
			for d := 1; d <= 20; d++ {
				ev[fmt.Sprintf("images_evaluation/Alpha%d/character%02d/%04d_%02d.png", a, c, a*10+c, d)] = pngOf(a*100 + c*20 + d)
			}
		}
	}
	write("images_evaluation.zip", ev)
	runs := map[string][]byte{}
	for r := 1; r <= eval.OfficialRunCount; r++ {
		var labels strings.Builder
		for k := 1; k <= eval.OfficialRunWay; k++ {
			runs[fmt.Sprintf("run%02d/training/class%02d.png", r, k)] = pngOf(r*50 + k)
			runs[fmt.Sprintf("run%02d/test/item%02d.png", r, k)] = pngOf(r*50 + k)
			fmt.Fprintf(&labels, "run%02d/test/item%02d.png run%02d/training/class%02d.png\n", r, k, r, k)
		}
		runs[fmt.Sprintf("run%02d/class_labels.txt", r)] = []byte(labels.String())
	}
	write("all_runs.zip", runs)
	return dir
}

func TestEvalRunsTheOfficialRunsBesideOmniglot(t *testing.T) {
	db := evalJob(t, glyphSpec(), nil)
	dir := omniglotLike(t, 16)
	stdout, _, err := runEval(t, "--db", db, "--job", "j", "--data", dir, "--force", "--official-runs", "--classifier", "neighbour",
		"--way", "3", "--episodes", "3", "--query", "2", "--json", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	out := decodeEval(t, stdout)
	r := out.OfficialRuns
	if r == nil || r.Protocol != eval.OfficialRunsProtocol || r.Items != 400 || r.Episodes != 20 || len(r.PerRun) != 20 || r.Classifier != eval.NearestNeighbour {
		t.Fatalf("official runs %+v", r)
	}
	// Test items are copies of their training images: all right.
	if r.Correct != 400 || r.Mean != 1 || out.Dataset.Classes != 6 || out.Dataset.Checked {
		t.Errorf("official runs %d/%d correct, mean %v; dataset %+v", r.Correct, r.Items, r.Mean, out.Dataset)
	}
	table, _, err := runEval(t, "--db", db, "--job", "j", "--data", filepath.Join(dir, "images_evaluation.zip"), "--force", "--official-runs",
		"--way", "3", "--episodes", "3", "--query", "2", "--quiet")
	if err != nil || !strings.Contains(table, eval.OfficialRunsProtocol) || !strings.Contains(table, "20 runs, 400 items") || !strings.Contains(table, "01 20/20") {
		t.Errorf("table (%v):\n%s", err, table)
	}
}

func TestEvalSaysWhichCheckpointItChoseAndWhy(t *testing.T) {
	validated := evalJob(t, glyphSpec(), nil) // val_acc 10 at step 10, 20 at step 20
	unvalidated := evalJob(t, glyphSpec(), func(r *checkpoints.JobRecord) { r.BestMetric = "val_loss_never_measured" })
	tests := []struct {
		name     string
		db, ckpt string
		want     string
		step     uint64
	}{
		{"best", validated, "best", "using checkpoint 20 of job j: best by val_acc 20", 20},
		{"latest", validated, "latest", "using checkpoint 20 of job j: the newest", 20},
		{"a step", validated, "10", "using checkpoint 10 of job j: step 10, as asked", 10},
		{"best without validation", unvalidated, "best", "using checkpoint 20 of job j: the newest, as no checkpoint of the job is validated (start --eval-every N", 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--db", tc.db, "--job", "j", "--checkpoint", tc.ckpt, "--way", "2", "--query", "1", "--episodes", "2"}
			out, _, err := runEval(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, tc.want) {
				t.Errorf("first line %q, want %q", first, tc.want)
			}
			js, _, err := runEval(t, append(args, "--json")...)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeEval(t, js)
			if got.Step != tc.step || !strings.HasPrefix("using checkpoint "+strconv.FormatUint(got.Step, 10)+" of job j: "+got.Choice, tc.want) {
				t.Errorf("--json: step %d, checkpoint_choice %q; want step %d, %q", got.Step, got.Choice, tc.step, tc.want)
			}
		})
	}
}

// TestEvalClassifierFollowsTheJobsLoss: without --classifier a matching
// job is evaluated by Matching Networks' attention and a proto job by its
// prototypes; --classifier overrides either.
func TestEvalClassifierFollowsTheJobsLoss(t *testing.T) {
	matching := glyphSpec()
	matching.Loss = "matching"
	for _, tc := range []struct {
		spec coordinator.JobSpec
		args []string
		want eval.Classifier
	}{
		{glyphSpec(), nil, eval.NearestPrototype},
		{matching, nil, eval.Attention},
		{matching, []string{"--classifier", "prototype"}, eval.NearestPrototype},
		{glyphSpec(), []string{"--classifier", "matching"}, eval.Attention},
	} {
		db := evalJob(t, tc.spec, nil)
		out, _, err := runEval(t, append([]string{"--db", db, "--job", "j", "--way", "3", "--query", "1", "--episodes", "3", "--json", "--quiet"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.spec.Loss, tc.args, err)
		}
		if got := decodeEval(t, out).Results[0].Classifier; got != tc.want {
			t.Errorf("loss %q %v: classifier %s, want %s", tc.spec.Loss, tc.args, got, tc.want)
		}
	}
}

// TestEvalOfAColourJob: eval opens a colour job's classes in colour,
// checks them against the colour training split's fingerprint, and
// evaluates its RGB model on them.
func TestEvalOfAColourJob(t *testing.T) {
	spec := glyphSpec()
	spec.Channels = params.RGB
	db := evalJob(t, spec, nil)
	stdout, _, err := runEval(t, "--db", db, "--job", "j", "--way", "3", "--query", "2", "--episodes", "4", "--json", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	out := decodeEval(t, stdout)
	test, err := episodes.Open(evalGlyphs, episodes.Options{Size: 16, Channels: params.RGB, Split: episodes.SplitTest})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Dataset.Checked || out.Dataset.Fingerprint != test.Fingerprint() || len(out.Results) != 1 || out.Results[0].Episodes != 4 {
		t.Errorf("colour job evaluated as %+v", out)
	}
}
