package main

// The command line as a user meets it: the built binary, its exit status,
// what it prints, and the README's own commands.

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBinary runs the built fsl-coord in dir with args, stdout and stderr
// into one pipe (not a terminal), and returns that output and the exit
// status; it fails the test after within.
func runBinary(t *testing.T, dir string, within time.Duration, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bins.coord, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return out.String(), ee.ExitCode()
		case err != nil:
			t.Fatalf("fsl-coord %s: %v", strings.Join(args, " "), err)
		}
		return out.String(), 0
	case <-time.After(within):
		cmd.Process.Kill() //nolint:errcheck // may be gone
		<-done
		t.Fatalf("fsl-coord %s did not exit within %v:\n%s", strings.Join(args, " "), within, out.String())
	}
	return "", -1
}

func TestSignalCheckpointsAndExitsWithTheSignalsStatus(t *testing.T) {
	build(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGTERM, "SIGTERM", 143},
		{syscall.SIGINT, "SIGINT", 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "fsl.db")
			// no checkpoint but the one the signal makes (checkpoint-every 1000)
			args := []string{"start", "--job", "sig", "--steps", "1000", "--checkpoint-every", "1000", "--local-workers", "1",
				"--listen", "127.0.0.1:0", "--http", "", "--db", db, "--eval-episodes", "0", "--progress", "always"}
			p := start(t, "fsl-coord", bins.coord, args...)
			deadline := time.Now().Add(3 * time.Minute)
			for !regexp.MustCompile(`step [1-9]\d*/1000`).MatchString(p.out.String()) {
				if time.Now().After(deadline) {
					t.Fatalf("no step applied within 3m:\n%s", p.out.String())
				}
				select {
				case <-p.done:
					t.Fatalf("exited before the signal: %v\n%s", p.err, p.out.String())
				case <-time.After(100 * time.Millisecond):
				}
			}
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.done:
			case <-time.After(time.Minute):
				t.Fatalf("still running a minute after %s:\n%s", tc.name, p.out.String())
			}
			out := p.out.String()
			var ee *exec.ExitError
			if !errors.As(p.err, &ee) || ee.ExitCode() != tc.code {
				t.Errorf("exit %v, want status %d\n%s", p.err, tc.code, out)
			}
			if strings.Contains(out, "context canceled") {
				t.Errorf("%q in the output:\n%s", "context canceled", out)
			}
			m := regexp.MustCompile(`(?m)^stopped by ` + tc.name + `.*: its newest checkpoint is step (\d+) of 1000 in .*; run the same command again to resume job sig$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no line saying where it stopped and how to resume:\n%s", out)
			}
			ls, code := runBinary(t, dir, time.Minute, "checkpoints", "ls", "--db", db, "--job", "sig", "--json")
			var rows []struct {
				Step  uint64 `json:"step"`
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(ls), &rows); code != 0 || err != nil || len(rows) != 1 || rows[0].Error != "" || m[1] != itoa(rows[0].Step) {
				t.Fatalf("checkpoints ls (status %d, %v): %s; want the one checkpoint, at step %s", code, err, ls, m[1])
			}
			// The rerun says first where it resumes (two more steps: quick).
			more := append([]string{}, args...)
			more[4] = itoa(rows[0].Step + 2)
			rerun, code := runBinary(t, dir, 3*time.Minute, more...)
			first, _, _ := strings.Cut(rerun, "\n")
			if want := "resuming job sig from step " + m[1] + " of " + more[4]; code != 0 || !strings.HasPrefix(first, want) {
				t.Errorf("rerun: status %d, first line %q, want it to start %q\n%s", code, first, want, rerun)
			}
		})
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// readmeLine is the first line of README.md's code blocks that starts
// with prefix, without its comment.
func readmeLine(t *testing.T, prefix string) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			line, _, _ = strings.Cut(line, "#")
			return strings.Fields(line)
		}
	}
	t.Fatalf("README.md has no line starting %q", prefix)
	return nil
}

// The README's first command, then its evaluation example, as written
// (start with a few steps and ports of its own; eval with fewer episodes).
func TestREADMEEvalWorksAfterTheREADMEStart(t *testing.T) {
	build(t)
	dir := t.TempDir()
	startArgs := readmeLine(t, "go run ./cmd/fsl-coord start")[3:]
	startArgs = append(startArgs, "--steps", "3", "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--eval-episodes", "0")
	if out, code := runBinary(t, dir, 3*time.Minute, startArgs...); code != 0 {
		t.Fatalf("README start %q: status %d\n%s", startArgs, code, out)
	}
	evalArgs := readmeLine(t, "fsl-coord eval --checkpoint best")[1:]
	out, code := runBinary(t, dir, 3*time.Minute, append(evalArgs, "--episodes", "20")...)
	if code != 0 {
		t.Fatalf("README eval %q: status %d\n%s", evalArgs, code, out)
	}
	choice := regexp.MustCompile(`(?m)^using checkpoint 3 of job fsl: (best by val_acc [0-9.]+|the newest, as no checkpoint of the job is validated .*)$`)
	if !choice.MatchString(out) {
		t.Errorf("no line naming the checkpoint and why:\n%s", out)
	}
	for _, way := range []string{"5-way 1-shot", "20-way 1-shot"} {
		if !strings.Contains(out, way) {
			t.Errorf("no %s row:\n%s", way, out)
		}
	}

	// The same through a pipe with --json: stdout and stderr together
	// are one JSON document, no progress bar in it.
	js, code := runBinary(t, dir, 3*time.Minute, append(evalArgs, "--episodes", "20", "--json")...)
	var v struct {
		Job     string            `json:"job"`
		Choice  string            `json:"checkpoint_choice"`
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(js), &v); code != 0 || err != nil || v.Job != "fsl" || v.Choice == "" || len(v.Results) != 2 {
		t.Errorf("eval --json 2>&1: status %d, %v, %+v; want one JSON document\n%s", code, err, v, js)
	}
}

func TestBashCompletionCompletesCommandsAndFlags(t *testing.T) {
	build(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	tests := []struct {
		words string // the command line so far, the last word being completed
		want  string
	}{
		{"fsl-coord checkpoints l", "ls"},
		{"fsl-coord st", "start status"},
		{"fsl-coord eval --chec", "--checkpoint"},
		{"fsl-coord dataset ", "inspect fetch help h"},
	}
	for _, tc := range tests {
		t.Run(tc.words, func(t *testing.T) {
			words := strings.Split(tc.words, " ")
			words[0] = bins.coord
			script := `source <("$0" completion bash) && COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) && _fsl_coord_complete && echo "${COMPREPLY[*]}"`
			cmd := exec.Command(bash, append([]string{"-c", script, bins.coord}, words...)...)
			out, err := cmd.CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
				t.Errorf("completing %q: %q (%v), want %q", tc.words, got, err, tc.want)
			}
		})
	}
}

// TestREADMEJobIsQuiet: the README's job (150 of its steps) prints no WARN
// line, and its summary counts invalid results apart from copies that lost
// the race to another (hedged backups): invalid 0.
func TestREADMEJobIsQuiet(t *testing.T) {
	build(t)
	dir := t.TempDir()
	sum := filepath.Join(dir, "summary.json")
	args := readmeLine(t, "go run ./cmd/fsl-coord start")[3:]
	args = append(args, "--steps", "150", "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--eval-episodes", "0", "--summary", sum)
	out, code := runBinary(t, dir, 3*time.Minute, args...)
	if code != 0 {
		t.Fatalf("README start %q: status %d\n%s", args, code, out)
	}
	if strings.Contains(out, "WARN") || strings.Contains(out, "level=WARN") {
		t.Errorf("a healthy run printed a warning:\n%s", out)
	}
	s := readSummary(t, sum)
	if s.Counters.InvalidTotal != 0 || s.Version != 150 {
		t.Errorf("version %d, invalid %d (%v), want 150 and 0; lost races %d", s.Version, s.Counters.InvalidTotal, s.InvalidByReason, s.Counters.LostRaces)
	}
	if !strings.Contains(out, "lost races") {
		t.Errorf("the summary line does not count lost races apart:\n%s", out)
	}
	t.Logf("lost races %d, duplicates %d, backups %d", s.Counters.LostRaces, s.Counters.Duplicates, s.Counters.Backups)
}

// TestBenchScaleCountsEveryShardAndTheParameterFanOut runs bench scale as a
// user does, simulated workers in their own process: it exits 0 only when
// every shard was applied once; with --fetch-params the workers fetch each
// version they compute at (at least one fetch per step, at most one per
// lease), without it none.
func TestBenchScaleCountsEveryShardAndTheParameterFanOut(t *testing.T) {
	build(t)
	const steps, shards = 12, 4
	served := regexp.MustCompile(`(\d+) parameter versions of [0-9.]+ MiB served`)
	leased := regexp.MustCompile(`leased (\d+) `)
	for _, tc := range []struct {
		name  string
		fetch bool
	}{{"without fetches", false}, {"with --fetch-params", true}} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"bench", "scale", "--workers", "4", "--shards", strconv.Itoa(shards), "--steps", strconv.Itoa(steps)}
			if tc.fetch {
				args = append(args, "--fetch-params")
			}
			out, code := runBinary(t, t.TempDir(), 2*time.Minute, args...)
			if code != 0 || !strings.Contains(out, "applied 48 of 48 shards") {
				t.Fatalf("exit %d, want 0 and 48 of 48 shards applied:\n%s", code, out)
			}
			m := served.FindStringSubmatch(out)
			if !tc.fetch {
				if m != nil || !strings.Contains(out, "simulated workers fetch no parameters") {
					t.Fatalf("workers fetched parameters without --fetch-params:\n%s", out)
				}
				return
			}
			l := leased.FindStringSubmatch(out)
			if m == nil || l == nil {
				t.Fatalf("no parameter or lease count:\n%s", out)
			}
			n, _ := strconv.Atoi(m[1])
			most, _ := strconv.Atoi(l[1])
			if n < steps || n > most {
				t.Fatalf("%d parameter versions served, want %d to %d (one per step at least, one per lease at most):\n%s", n, steps, most, out)
			}
		})
	}
}

// TestCheckpointsRmFreesAJobID: a finished job's rerun has nothing to do;
// after checkpoints rm the store holds no trace of it and the same command
// trains it again from step 0; a second rm names the missing job.
func TestCheckpointsRmFreesAJobID(t *testing.T) {
	build(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "fsl.db")
	train := []string{"start", "--job", "gone", "--steps", "3", "--checkpoint-every", "1", "--local-workers", "1",
		"--listen", "127.0.0.1:0", "--http", "", "--db", db, "--eval-episodes", "0"}
	if out, code := runBinary(t, dir, 3*time.Minute, train...); code != 0 || !strings.Contains(out, "done: step 3") {
		t.Fatalf("first run: exit %d:\n%s", code, out)
	}
	if out, code := runBinary(t, dir, 3*time.Minute, train...); code != 0 || !strings.Contains(out, "nothing to train") ||
		!strings.Contains(out, "checkpoints rm --db "+db+" --job gone") || !strings.Contains(out, "shards applied 0,") ||
		!strings.Contains(out, "nothing trained in this run") || strings.Contains(out, "images/s") {
		t.Fatalf("rerun of a finished job: exit %d, want nothing trained and checkpoints rm named:\n%s", code, out)
	}
	out, code := runBinary(t, dir, time.Minute, "checkpoints", "rm", "--db", db, "--job", "gone")
	if code != 0 || !strings.Contains(out, "deleted job gone: 3 checkpoints") {
		t.Fatalf("checkpoints rm: exit %d:\n%s", code, out)
	}
	if out, code := runBinary(t, dir, time.Minute, "checkpoints", "ls", "--db", db); code != 0 || strings.Contains(out, "gone") {
		t.Fatalf("checkpoints ls after rm: exit %d, still lists the job:\n%s", code, out)
	}
	if out, code := runBinary(t, dir, 3*time.Minute, train...); code != 0 || !strings.Contains(out, "shards applied 6,") {
		t.Fatalf("run after rm: exit %d, want a new training of 3 steps × 2 shards:\n%s", code, out)
	}
	if _, code := runBinary(t, dir, time.Minute, "checkpoints", "rm", "--db", db, "--job", "never"); code == 0 {
		t.Fatal("checkpoints rm of a job the store never held exited 0")
	}
}
