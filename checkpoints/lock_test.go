package checkpoints

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two Stores in one process take separate bbolt file locks, exactly as two
// processes would.

func TestOpenWhileAnotherHoldsTheFileGivesErrLocked(t *testing.T) {
	_, path := tempStore(t) // held: keeps the exclusive lock
	for _, opts := range [][]Option{
		{WithLockTimeout(100 * time.Millisecond)},
		{WithReadOnly(), WithLockTimeout(100 * time.Millisecond)},
	} {
		start := time.Now()
		s, err := Open(path, opts...)
		if err == nil {
			s.Close()
			t.Fatal("second Open succeeded while the file was held")
		}
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "running fsl-coord") {
			t.Fatalf("Open: %v, want ErrLocked naming the coordinator", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Open waited %v with a 100ms lock timeout", d)
		}
	}
}

func TestReadersGetInBetweenReleasedWrites(t *testing.T) {
	w, path := tempStore(t, WithReleaseBetweenWrites())
	if err := w.PutJob(testJob("j", 5000)); err != nil {
		t.Fatal(err)
	}
	if err := w.Save("j", makeCheckpoint(1, 5000, 10)); err != nil {
		t.Fatal(err)
	}
	// A reader that keeps its Store open across reads must release too, or
	// the writer would wait on it.
	r := openTest(t, path, WithReadOnly(), WithReleaseBetweenWrites())

	const saves = 20
	var wg sync.WaitGroup
	wg.Add(1)
	writeErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		for step := uint64(2); step <= saves; step++ {
			if err := w.Save("j", makeCheckpoint(step, 5000, 10)); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	reads := 0
	deadline := time.Now().Add(30 * time.Second)
	for done := false; !done; {
		select {
		case err := <-writeErr:
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			done = true
		default:
		}
		c, err := r.Latest("j")
		if err != nil {
			t.Fatalf("reader during writes: %v", err)
		}
		equalCheckpoint(t, c, makeCheckpoint(c.Step, 5000, 10))
		reads++
		if time.Now().After(deadline) {
			t.Fatal("writer did not finish in 30s")
		}
	}
	wg.Wait()
	infos, err := r.List("j")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != saves || reads == 0 {
		t.Fatalf("%d checkpoints after %d saves, %d reads", len(infos), saves, reads)
	}
}
