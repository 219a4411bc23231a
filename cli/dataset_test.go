package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func runCoord(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := NewCoordApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := Run(context.Background(), app, append([]string{"fsl-coord"}, args...))
	return out.String(), err
}

func TestDatasetInspectPrintsCountsAndFingerprint(t *testing.T) {
	out, err := runCoord(t, "dataset", "inspect", "--json", "--split", "background", "--rotations", "glyphs:alphabets=5,chars=3,drawers=4")
	if err != nil {
		t.Fatal(err)
	}
	var s datasetSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	// 5 alphabets: the first 3 are background; 3 chars each, 4 rotations.
	if s.Classes != 3*3*4 || s.Images != 36*4 || s.Groups != 3 || s.ImageSize != 28 || len(s.Fingerprint) != 64 {
		t.Errorf("summary %+v", s)
	}
	table, err := runCoord(t, "dataset", "inspect", "glyphs:alphabets=2,chars=2,drawers=2")
	if err != nil || !regexp.MustCompile(`(?m)^classes\s+4$`).MatchString(table) || !regexp.MustCompile(`(?m)^fingerprint\s+[0-9a-f]{64}$`).MatchString(table) {
		t.Errorf("table %q, %v", table, err)
	}
	if _, err := runCoord(t, "dataset", "inspect", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing path: no error")
	}
}

func TestDatasetFetchUsesBaseURLAndChecksums(t *testing.T) {
	payload := []byte(strings.Repeat("omniglot", 1000))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(payload)
	}))
	defer srv.Close()
	sum := sha256.Sum256(payload)
	h := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	out, err := runCoord(t, "dataset", "fetch", "--dir", dir, "--base-url", srv.URL,
		"--sha256", "images_background.zip="+h, "--sha256", "images_evaluation.zip="+h, "omniglot")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, n := range []string{"images_background.zip", "images_evaluation.zip"} {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := runCoord(t, "dataset", "fetch", "--dir", t.TempDir(), "--base-url", srv.URL, "omniglot"); err == nil || !strings.Contains(err.Error(), "--sha256") {
		t.Errorf("no checksum: got %v", err)
	}
}
