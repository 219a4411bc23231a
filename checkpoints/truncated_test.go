package checkpoints

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A store cut short after its meta pages maps fine but faults when bbolt
// follows a page past the end; that must be an error, not a crash. Cuts that
// remove only free pages may load, and what loads must verify.
func TestTruncatedStoreFailsWithoutCrashing(t *testing.T) {
	full := validStoreBytes(t)
	for _, n := range []int{4 << 12, 5 << 12, 8 << 12, len(full) / 2, len(full) - 4096} {
		path := filepath.Join(t.TempDir(), "fsl.db")
		if err := os.WriteFile(path, full[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, WithReadOnly())
		var c *Checkpoint
		if err == nil {
			c, err = s.At("j", 1)
			s.Close()
		}
		t.Logf("cut to %d of %d bytes: %v", n, len(full), err)
		if err == nil {
			// Only free pages were cut: what loads has verified.
			equalCheckpoint(t, c, makeCheckpoint(1, 2000, 0))
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("store cut to %d bytes: %v, want ErrCorrupt", n, err)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after, full[:n]) {
			t.Fatalf("store cut to %d bytes: the file changed", n)
		}
	}
}
