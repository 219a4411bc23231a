package episodes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fetchServer serves files from dir with Range support, records the Range
// headers it saw, and can cut the first response of a file short.
type fetchServer struct {
	dir      string
	mu       sync.Mutex
	ranges   []string
	cutFirst map[string]int // file -> bytes to send before dropping the connection
}

func (s *fetchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := filepath.Base(r.URL.Path)
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	cut, ok := s.cutFirst[name]
	delete(s.cutFirst, name)
	s.mu.Unlock()
	if ok {
		// Promise the whole file, send part, then return: the client sees
		// an unexpected EOF mid-body.
		w.Header().Set("Content-Length", itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:cut])
		return
	}
	http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(data)))
}

func itoa(n int) string   { return strconv.Itoa(n) }
func fmtInt(n int) string { return strconv.Itoa(n) }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fetchFixture serves two files: the real Omniglot evaluation zip when
// present (as the task asks), else synthetic bytes.
func fetchFixture(t *testing.T) (*fetchServer, *httptest.Server, map[string][]byte) {
	t.Helper()
	src := t.TempDir()
	files := map[string][]byte{}
	real := ""
	if d := os.Getenv("FSL_OMNIGLOT"); d != "" {
		real = d
	} else if root, err := filepath.Abs(filepath.Join("..", "..", "shared", "data", "omniglot")); err == nil {
		real = root
	}
	if data, err := os.ReadFile(filepath.Join(real, "images_evaluation.zip")); err == nil {
		files["images_evaluation.zip"] = data
	} else {
		files["images_evaluation.zip"] = []byte(strings.Repeat("evaluation bytes ", 50000))
	}
	files["images_background.zip"] = []byte(strings.Repeat("background ", 30000))
	for n, b := range files {
		writeFile(t, src, n, b)
	}
	fs := &fetchServer{dir: src, cutFirst: map[string]int{}}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return fs, srv, files
}

func sums(files map[string][]byte) map[string]string {
	m := map[string]string{}
	for n, b := range files {
		m[n] = sha256Hex(b)
	}
	return m
}

func TestFetchDownloadsVerifiesAndRenames(t *testing.T) {
	_, srv, files := fetchFixture(t)
	dir := filepath.Join(t.TempDir(), "new")
	got, err := Fetch(context.Background(), FetchOptions{BaseURL: srv.URL + "/x/", Dir: dir, SHA256: sums(files)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("fetched %+v", got)
	}
	for _, f := range got {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if sha256Hex(data) != sha256Hex(files[filepath.Base(f.Path)]) || f.Bytes != int64(len(data)) {
			t.Errorf("%s: wrong content", f.Path)
		}
		if fileExists(f.Path + ".part") {
			t.Errorf("%s.part left behind", f.Path)
		}
	}
	// Second call: already present, nothing transferred.
	again, err := Fetch(context.Background(), FetchOptions{BaseURL: srv.URL + "/x/", Dir: dir, SHA256: sums(files)})
	if err != nil || !again[0].Present || again[0].Downloaded != 0 {
		t.Errorf("second fetch: %+v %v", again, err)
	}
}

func TestFetchResumesAnInterruptedDownload(t *testing.T) {
	fs, srv, files := fetchFixture(t)
	name := "images_evaluation.zip"
	cut := len(files[name]) / 3
	fs.cutFirst[name] = cut
	dir := t.TempDir()
	opts := FetchOptions{BaseURL: srv.URL, Dir: dir, Files: []string{name}, SHA256: sums(files)}
	if _, err := Fetch(context.Background(), opts); err == nil {
		t.Fatal("cut download: no error")
	}
	if fileExists(filepath.Join(dir, name)) {
		t.Fatal("final file exists after a failed download")
	}
	st, err := os.Stat(filepath.Join(dir, name+".part"))
	if err != nil || st.Size() != int64(cut) {
		t.Fatalf(".part after cut: %v %v, want %d bytes", st, err, cut)
	}
	got, err := Fetch(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Resumed || got[0].Downloaded != int64(len(files[name])-cut) {
		t.Errorf("resume: %+v, want %d bytes downloaded with a Range", got[0], len(files[name])-cut)
	}
	if want := "bytes=" + fmtInt(cut) + "-"; fs.ranges[len(fs.ranges)-1] != want {
		t.Errorf("Range header %q, want %q", fs.ranges[len(fs.ranges)-1], want)
	}
	data, _ := os.ReadFile(filepath.Join(dir, name))
	if sha256Hex(data) != sha256Hex(files[name]) {
		t.Error("resumed file differs from the source")
	}
}

func TestFetchRejectsBadChecksumsAndStatus(t *testing.T) {
	_, srv, files := fetchFixture(t)
	name := "images_background.zip"
	t.Run("wrong sha256 removes the part and leaves no file", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Fetch(context.Background(), FetchOptions{BaseURL: srv.URL, Dir: dir, Files: []string{name},
			SHA256: map[string]string{name: strings.Repeat("ab", 32)}})
		if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), name) {
			t.Fatalf("got %v, want ErrChecksum naming %s", err, name)
		}
		if fileExists(filepath.Join(dir, name)) || fileExists(filepath.Join(dir, name+".part")) {
			t.Error("file or .part left after a checksum failure")
		}
	})
	t.Run("corrupt part is detected, then a fresh fetch succeeds", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, name+".part", []byte("XXXX"))
		opts := FetchOptions{BaseURL: srv.URL, Dir: dir, Files: []string{name}, SHA256: sums(files)}
		if _, err := Fetch(context.Background(), opts); !errors.Is(err, ErrChecksum) {
			t.Fatalf("got %v, want ErrChecksum", err)
		}
		if _, err := Fetch(context.Background(), opts); err != nil {
			t.Fatalf("retry: %v", err)
		}
	})
	t.Run("missing checksum for an unofficial URL", func(t *testing.T) {
		_, err := Fetch(context.Background(), FetchOptions{BaseURL: srv.URL, Dir: t.TempDir(), Files: []string{name}})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--sha256 "+name) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("HTTP 404 names the URL", func(t *testing.T) {
		_, err := Fetch(context.Background(), FetchOptions{BaseURL: srv.URL, Dir: t.TempDir(), Files: []string{"nope.zip"},
			SHA256: map[string]string{"nope.zip": strings.Repeat("00", 32)}})
		if err == nil || !strings.Contains(err.Error(), srv.URL+"/nope.zip") || !strings.Contains(err.Error(), "404") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("path in a file name", func(t *testing.T) {
		_, err := Fetch(context.Background(), FetchOptions{BaseURL: srv.URL, Dir: t.TempDir(), Files: []string{"../x.zip"}})
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("got %v", err)
		}
	})
}
