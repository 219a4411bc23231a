package checkpoints

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The crash test re-executes this test binary as a writer child; TestMain
// turns it into the child when crashChildEnv names the store.
const (
	crashChildEnv   = "FSL_CHECKPOINTS_CRASH_CHILD"
	crashReleaseEnv = "FSL_CHECKPOINTS_CRASH_RELEASE"
	crashJob        = "crash"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path, os.Getenv(crashReleaseEnv) == "1"))
	}
	os.Exit(m.Run())
}

// crashChild resumes the crash job from its latest checkpoint and saves the
// following steps, printing each step once Save has returned, until killed.
func crashChild(path string, release bool) int {
	opts := []Option{WithLockTimeout(10 * time.Second)}
	if release {
		opts = append(opts, WithReleaseBetweenWrites())
	}
	s, err := Open(path, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if _, err := s.Job(crashJob); errors.Is(err, ErrNotFound) {
		err = s.PutJob(testJob(crashJob, modelParams))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
	}
	next := uint64(1)
	if c, err := s.Latest(crashJob); err == nil {
		next = c.Step + 1
	} else if !errors.Is(err, ErrNotFound) {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	for step := next; step < next+10_000; step++ {
		if err := s.Save(crashJob, makeCheckpoint(step, modelParams, modelState)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 4
		}
		fmt.Fprintf(os.Stdout, "%d\n", step) // unbuffered: one write per step
	}
	return 0
}

// TestSIGKILLDuringSavesLosesNoCommittedCheckpoint kills a writer child at
// random moments, 20 times on one file, alternating held and
// release-between-writes mode. After every kill the store must open, Latest
// must verify and be at least the last printed step, and every step the
// child printed (its Save had returned) must load and verify.
func TestSIGKILLDuringSavesLosesNoCommittedCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process crash test; skipped with -short")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "fsl.db")
	committed := map[uint64]bool{}
	var lastCommitted uint64
	for round := range 20 {
		release := round%2 == 1
		printed, childErr := runAndKill(t, path, release, rng)
		for _, step := range printed {
			committed[step] = true
			lastCommitted = max(lastCommitted, step)
		}
		if childErr != "" {
			t.Fatalf("round %d: child failed on its own: %s", round, childErr)
		}

		s, err := Open(path, WithReadOnly())
		if len(committed) == 0 && errors.Is(err, ErrNotFound) {
			continue // killed before the store file was linked into place
		}
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		latest, err := s.Latest(crashJob)
		if len(committed) == 0 && errors.Is(err, ErrNotFound) {
			s.Close()
			continue
		}
		if err != nil {
			t.Fatalf("round %d: Latest after kill: %v", round, err)
		}
		if latest.Step < lastCommitted {
			t.Fatalf("round %d: Latest is step %d, but step %d had been committed", round, latest.Step, lastCommitted)
		}
		equalCheckpoint(t, latest, makeCheckpoint(latest.Step, modelParams, modelState))
		infos, err := s.List(crashJob)
		if err != nil {
			t.Fatal(err)
		}
		present := map[uint64]bool{}
		for _, in := range infos {
			if in.Err != nil {
				t.Fatalf("round %d: %v", round, in.Err)
			}
			present[in.Step] = true
		}
		for step := range committed {
			if !present[step] {
				t.Fatalf("round %d: committed step %d is missing", round, step)
			}
		}
		for _, step := range printed {
			c, err := s.At(crashJob, step)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			equalCheckpoint(t, c, makeCheckpoint(step, modelParams, modelState))
		}
		s.Close()
	}
	if len(committed) < 10 {
		t.Fatalf("only %d steps were committed over 20 rounds; the test did not exercise saves", len(committed))
	}
	t.Logf("%d steps committed, last %d", len(committed), lastCommitted)
}

// runAndKill starts a writer child, waits for a random number (0-3) of
// committed steps plus a random 0-30 ms, SIGKILLs it, and returns every step
// it printed and, if it exited by itself, why.
func runAndKill(t *testing.T, path string, release bool, rng *rand.Rand) (printed []uint64, childErr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	if release {
		cmd.Env = append(cmd.Env, crashReleaseEnv+"=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan uint64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if step, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
				lines <- step
			}
		}
	}()

	waitFor := rng.IntN(4)
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	exited := false
	for len(printed) < waitFor && !exited {
		select {
		case step, ok := <-lines:
			if !ok {
				exited = true
				break
			}
			printed = append(printed, step)
		case <-timeout.C:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child printed %d of %d steps in 30s; stderr: %s", len(printed), waitFor, stderr.String())
		}
	}
	if !exited && len(printed) > 0 {
		checkConcurrentReader(t, path, release)
	}
	if !exited {
		// The random kill moment: somewhere inside the next save.
		time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	for step := range lines {
		printed = append(printed, step)
	}
	err = cmd.Wait()
	if exited || (err != nil && !isKilled(err)) {
		return printed, fmt.Sprintf("%v: %s", err, stderr.String())
	}
	return printed, ""
}

// checkConcurrentReader opens the store while the child writes: a reader
// gets in between saves in release mode and gets ErrLocked otherwise.
func checkConcurrentReader(t *testing.T, path string, release bool) {
	t.Helper()
	if !release {
		s, err := Open(path, WithReadOnly(), WithLockTimeout(100*time.Millisecond))
		if err == nil {
			s.Close()
			t.Fatal("reader opened a store held by a writer")
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("reader: %v, want ErrLocked", err)
		}
		return
	}
	s, err := Open(path, WithReadOnly(), WithReleaseBetweenWrites())
	if err != nil {
		t.Fatalf("reader between released writes: %v", err)
	}
	defer s.Close()
	infos, err := s.List(crashJob)
	if err != nil || len(infos) == 0 {
		t.Fatalf("reader between released writes: List = %d entries, %v", len(infos), err)
	}
}

func isKilled(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && !ee.Exited()
}
