package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// omniglotDir returns the real Omniglot folder (FSL_OMNIGLOT, else
// ../shared/data/omniglot beside the repository root), or skips, or fails
// under FSL_REQUIRE_DATA=1.
func omniglotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FSL_OMNIGLOT")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "data", "omniglot")
	}
	if _, err := os.Stat(filepath.Join(dir, "images_background.zip")); err != nil {
		msg := fmt.Sprintf("Omniglot not found in %q (%v); set FSL_OMNIGLOT to the folder holding the zips", dir, err)
		if os.Getenv("FSL_REQUIRE_DATA") == "1" {
			t.Fatal(msg + " (FSL_REQUIRE_DATA=1)")
		}
		t.Skip(msg)
	}
	return dir
}

// TestExampleJobsRun starts every job file in examples/ on the real
// Omniglot for two steps, with a validation and a final evaluation on its
// own splits: the recipes in the repository must stay runnable.
func TestExampleJobsRun(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example job files: %v", err)
	}
	omni := omniglotDir(t)
	if raceEnabled || testing.Short() {
		t.Skip("decoding all of Omniglot and 60-way episodes are too slow under -race or -short; run go test ./cli without them")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "fsl.db")
			out, err := runCoord(t, "start", "--config", f, "--data", omni, "--steps", "2", "--eval-every", "1",
				"--val-episodes", "2", "--eval-episodes", "2", "--local-workers", "1", "--listen", "127.0.0.1:0",
				"--http", "", "--db", db, "--progress", "never")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, want := range []string{"done: step 2", "accuracy on held-out classes"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
