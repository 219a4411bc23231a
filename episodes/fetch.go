package episodes

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// OmniglotBaseURL is where the official Omniglot repository publishes its
// image zips.
const OmniglotBaseURL = "https://github.com/brendenlake/omniglot/raw/master/python/"

// OmniglotFiles are the two official image zips.
var OmniglotFiles = []string{"images_background.zip", "images_evaluation.zip"}

// omniglotMD5 are the MD5 sums of the official zips as torchvision records
// them; used only when no SHA-256 is given and BaseURL is the official one.
var omniglotMD5 = map[string]string{
	"images_background.zip": "68d2efa1b9178cc56df9314c21c6e718",
	"images_evaluation.zip": "6b91aef0f799c5bb55b94e3f2daec811",
}

// FetchOptions say what to download where. The zero value fetches the
// official Omniglot zips into the current folder, checked against their
// known MD5 sums.
type FetchOptions struct {
	// BaseURL is joined with each file name; default OmniglotBaseURL.
	BaseURL string
	// Dir receives the files; default ".". It is created if missing.
	Dir string
	// Files to fetch; default OmniglotFiles.
	Files []string
	// SHA256 maps a file name to its expected hex SHA-256. A file with no
	// entry is checked against the known MD5 of the official zip when
	// BaseURL is the official one, and refused otherwise.
	SHA256 map[string]string
	// Client makes the requests; default http.DefaultClient.
	Client *http.Client
}

// Fetched reports what Fetch did for one file.
type Fetched struct {
	Path string
	// Bytes is the size of the final file.
	Bytes int64
	// Downloaded is the number of bytes transferred by this call.
	Downloaded int64
	// Resumed is true when an existing .part was continued with an HTTP
	// Range request; Present when a verified file was already there.
	Resumed, Present bool
}

// Fetch downloads each file to Dir/name.part, resuming an existing .part
// with an HTTP Range request, checks the whole file's checksum and only then
// renames it to Dir/name, so Dir/name is either absent or complete and
// verified. A .part whose checksum fails is removed (the next call starts
// afresh); a .part cut short by a network error is kept for resuming. A
// verified Dir/name is left alone.
func Fetch(ctx context.Context, opts FetchOptions) ([]Fetched, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = OmniglotBaseURL
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.Files == nil {
		opts.Files = OmniglotFiles
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	var out []Fetched
	for _, name := range opts.Files {
		if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return out, fmt.Errorf("fetch: file name %q must be a plain name: %w", name, ErrConfig)
		}
		sum, err := expectedSum(opts, name)
		if err != nil {
			return out, err
		}
		f, err := fetchOne(ctx, opts, name, sum)
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

// checksum is an expected digest.
type checksum struct {
	algo string // "sha256" or "md5"
	hex  string
}

func (c checksum) new() hash.Hash {
	if c.algo == "md5" {
		return md5.New()
	}
	return sha256.New()
}

func expectedSum(opts FetchOptions, name string) (checksum, error) {
	if h, ok := opts.SHA256[name]; ok {
		h = strings.ToLower(strings.TrimSpace(h))
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			return checksum{}, fmt.Errorf("fetch %s: sha256 %q is not 64 hex digits: %w", name, h, ErrConfig)
		}
		return checksum{"sha256", h}, nil
	}
	if m, ok := omniglotMD5[name]; ok && opts.BaseURL == OmniglotBaseURL {
		return checksum{"md5", m}, nil
	}
	return checksum{}, fmt.Errorf("fetch %s from %s: no known checksum; pass --sha256 %s=<hex>: %w", name, opts.BaseURL, name, ErrConfig)
}

// fileSum hashes a file with the given algorithm.
func fileSum(path string, c checksum) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := c.new()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %q: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func fetchOne(ctx context.Context, opts FetchOptions, name string, sum checksum) (Fetched, error) {
	final := filepath.Join(opts.Dir, name)
	part := final + ".part"
	res := Fetched{Path: final}
	if got, n, err := fileSum(final, sum); err == nil {
		if got != sum.hex {
			return res, fmt.Errorf("fetch %s: existing %q has %s %s, want %s; remove it to download again: %w", name, final, sum.algo, got, sum.hex, ErrChecksum)
		}
		res.Bytes, res.Present = n, true
		return res, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}

	url := strings.TrimSuffix(opts.BaseURL, "/") + "/" + name
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return res, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if want := fmt.Sprintf("bytes %d-", off); !strings.HasPrefix(resp.Header.Get("Content-Range"), want) {
			return res, fmt.Errorf("fetch %s: asked for bytes from %d, got Content-Range %q: %w", url, off, resp.Header.Get("Content-Range"), ErrFormat)
		}
		res.Resumed = true
	case resp.StatusCode == http.StatusOK:
		// The server ignored the range (or there was none): start over.
		if err := f.Truncate(0); err != nil {
			return res, fmt.Errorf("fetch %s: %w", name, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return res, fmt.Errorf("fetch %s: %w", name, err)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
		// The .part may already hold the whole file; the checksum decides.
	default:
		return res, fmt.Errorf("fetch %s: HTTP %s", url, resp.Status)
	}
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		n, err := io.Copy(f, resp.Body)
		res.Downloaded = n
		if err != nil {
			return res, fmt.Errorf("fetch %s: after %d bytes: %w (run again to resume from %q)", url, n, err, part)
		}
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}
	got, n, err := fileSum(part, sum)
	if err != nil {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}
	if got != sum.hex {
		os.Remove(part)
		return res, fmt.Errorf("fetch %s: downloaded %d bytes with %s %s, want %s (removed %q): %w", url, n, sum.algo, got, sum.hex, part, ErrChecksum)
	}
	if err := os.Rename(part, final); err != nil {
		return res, fmt.Errorf("fetch %s: %w", name, err)
	}
	res.Bytes = n
	return res, nil
}
