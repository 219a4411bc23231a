package episodes

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fsl-project/fsl/params"
)

// OmniglotDrawers is the number of drawings of every Omniglot character
// (drawers 01..20); a character with fewer is an error.
const OmniglotDrawers = 20

// maxEntryBytes bounds one archive member we read, against zip bombs.
const maxEntryBytes = 16 << 20

// omniglotSets maps the file or folder stem to the class Set.
var omniglotSets = []struct{ stem, set string }{
	{"images_background", "background"},
	{"images_evaluation", "evaluation"},
}

// omniglotEntry is a parsed path <images_x>/<Alphabet>/<characterNN>/<id>_<dd>.png.
type omniglotEntry struct {
	set, alphabet, character string
	id, drawer               int
}

// parseOmniglotPath parses a slash-separated path inside a split. skip
// reports entries that are not images and carry no meaning (directories,
// macOS metadata, dot files).
func parseOmniglotPath(p string) (e omniglotEntry, skip bool, err error) {
	base := path.Base(p)
	if strings.HasSuffix(p, "/") || strings.HasPrefix(p, "__MACOSX/") || strings.HasPrefix(base, ".") {
		return e, true, nil
	}
	parts := strings.Split(p, "/")
	if len(parts) != 4 {
		return e, false, fmt.Errorf("entry %q is not <split>/<Alphabet>/characterNN/<id>_<drawer>.png: %w", p, ErrFormat)
	}
	for _, s := range omniglotSets {
		if parts[0] == s.stem || strings.HasPrefix(parts[0], s.stem+"_") {
			e.set = s.set
		}
	}
	if e.set == "" {
		return e, false, fmt.Errorf("entry %q: top folder %q is not images_background or images_evaluation: %w", p, parts[0], ErrFormat)
	}
	e.alphabet, e.character = parts[1], parts[2]
	if e.alphabet == "" || !strings.HasPrefix(e.character, "character") {
		return e, false, fmt.Errorf("entry %q: want <Alphabet>/characterNN: %w", p, ErrFormat)
	}
	stem, ok := strings.CutSuffix(parts[3], ".png")
	idStr, drawerStr, ok2 := strings.Cut(stem, "_")
	if !ok || !ok2 || len(idStr) != 4 || len(drawerStr) != 2 {
		return e, false, fmt.Errorf("entry %q: file name is not <id>_<drawer>.png: %w", p, ErrFormat)
	}
	e.id, err = strconv.Atoi(idStr)
	if err == nil {
		e.drawer, err = strconv.Atoi(drawerStr)
	}
	if err != nil || e.id < 0 || e.drawer < 1 || e.drawer > OmniglotDrawers {
		return e, false, fmt.Errorf("entry %q: want a 4-digit id and a drawer 01..%02d: %w", p, OmniglotDrawers, ErrFormat)
	}
	return e, false, nil
}

// omniglotItems turns parsed entries into items and checks that every
// character has exactly OmniglotDrawers drawings, one per drawer, all with
// one character id.
func omniglotItems(where string, entries []omniglotEntry, sources []string, reads []func() ([]byte, error)) ([]item, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no Omniglot images (<split>/<Alphabet>/characterNN/<id>_<drawer>.png): %w", where, ErrFormat)
	}
	type charInfo struct {
		id      int
		drawers [OmniglotDrawers + 1]bool
		count   int
	}
	chars := map[string]*charInfo{}
	items := make([]item, len(entries))
	for i, e := range entries {
		name := e.alphabet + "/" + e.character
		ci := chars[name]
		if ci == nil {
			ci = &charInfo{id: e.id}
			chars[name] = ci
		}
		if e.id != ci.id {
			return nil, fmt.Errorf("%s: character %q mixes ids %04d and %04d (%s): %w", where, name, ci.id, e.id, sources[i], ErrFormat)
		}
		if ci.drawers[e.drawer] {
			return nil, fmt.Errorf("%s: character %q has drawer %02d twice (%s): %w", where, name, e.drawer, sources[i], ErrFormat)
		}
		ci.drawers[e.drawer] = true
		ci.count++
		items[i] = item{class: name, group: e.alphabet, set: e.set, source: sources[i], drawer: int32(e.drawer), read: reads[i]}
	}
	names := make([]string, 0, len(chars))
	for n := range chars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ci := chars[n]
		if ci.count == OmniglotDrawers {
			continue
		}
		var missing []string
		for d := 1; d <= OmniglotDrawers; d++ {
			if !ci.drawers[d] {
				missing = append(missing, fmt.Sprintf("%04d_%02d.png", ci.id, d))
			}
		}
		return nil, fmt.Errorf("%s: character %q has %d images, want %d (missing %s): %w", where, n, ci.count, OmniglotDrawers, strings.Join(missing, ", "), ErrMissing)
	}
	return items, nil
}

// readOmniglotZip lists the images of one Omniglot split zip held in memory.
func readOmniglotZip(name string, data []byte) ([]item, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("zip %q: %v: %w", name, err, ErrFormat)
	}
	var entries []omniglotEntry
	var sources []string
	var reads []func() ([]byte, error)
	for _, f := range zr.File {
		e, skip, err := parseOmniglotPath(f.Name)
		if err != nil {
			return nil, fmt.Errorf("zip %q is not an Omniglot split: %w", name, err)
		}
		if skip {
			continue
		}
		if f.UncompressedSize64 > maxEntryBytes {
			return nil, fmt.Errorf("zip %q: entry %q is %d bytes, more than %d: %w", name, f.Name, f.UncompressedSize64, maxEntryBytes, ErrFormat)
		}
		f := f
		entries = append(entries, e)
		sources = append(sources, name+":"+f.Name)
		reads = append(reads, func() ([]byte, error) { return readZipFile(f) })
	}
	return omniglotItems(fmt.Sprintf("zip %q", name), entries, sources, reads)
}

// readZipFile reads one member, refusing more than maxEntryBytes whatever
// its header claims.
func readZipFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxEntryBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxEntryBytes {
		return nil, fmt.Errorf("entry %q expands past %d bytes: %w", f.Name, maxEntryBytes, ErrFormat)
	}
	return data, nil
}

// readOmniglotDir lists the images of one extracted split folder root (the
// folder named images_background or images_evaluation).
func readOmniglotDir(root string) ([]item, error) {
	parent := filepath.Dir(root)
	var entries []omniglotEntry
	var sources []string
	var reads []func() ([]byte, error)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(parent, p)
		if err != nil {
			return err
		}
		e, skip, err := parseOmniglotPath(filepath.ToSlash(rel))
		if err != nil {
			return fmt.Errorf("folder %q is not an Omniglot split: %w", root, err)
		}
		if skip {
			return nil
		}
		entries = append(entries, e)
		sources = append(sources, p)
		reads = append(reads, func() ([]byte, error) { return readFileLimited(p) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return omniglotItems(fmt.Sprintf("folder %q", root), entries, sources, reads)
}

// readFileLimited reads a file of at most maxEntryBytes.
func readFileLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEntryBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxEntryBytes {
		return nil, fmt.Errorf("file %q is larger than %d bytes: %w", p, maxEntryBytes, ErrFormat)
	}
	return data, nil
}

// omniglotSplitItems finds one split (stem "images_background" or
// "images_evaluation") in dir, as stem.zip or as an extracted stem/ folder.
func omniglotSplitItems(dir, stem string) ([]item, error) {
	zipPath := filepath.Join(dir, stem+".zip")
	data, err := os.ReadFile(zipPath)
	if err == nil {
		return readOmniglotZip(filepath.Base(zipPath), data)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %q: %w", zipPath, err)
	}
	folder := filepath.Join(dir, stem)
	if st, err := os.Stat(folder); err == nil && st.IsDir() {
		return readOmniglotDir(folder)
	}
	return nil, fmt.Errorf("omniglot folder %q: neither %s nor %s/ exists: %w", dir, stem+".zip", stem, ErrMissing)
}

// isOmniglotDir reports whether dir holds at least one Omniglot split.
func isOmniglotDir(dir string) bool {
	for _, s := range omniglotSets {
		if fileExists(filepath.Join(dir, s.stem+".zip")) || fileExists(filepath.Join(dir, s.stem)) {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// LoadOmniglot loads the Omniglot splits in dir (each as images_<set>.zip or
// an extracted images_<set>/ folder): sets names "background" and/or
// "evaluation"; none means both. Images are inverted (strokes 255,
// background 0) and resized to size×size (28 when size is 0); Omniglot is
// grayscale, one channel. Classes are "Alphabet/characterNN", grouped by
// alphabet, sorted by name.
func LoadOmniglot(dir string, size int, sets ...string) (*Dataset, error) {
	if size == 0 {
		size = DefaultSize
	}
	if len(sets) == 0 {
		sets = []string{"background", "evaluation"}
	}
	var items []item
	for _, set := range sets {
		stem := ""
		for _, s := range omniglotSets {
			if s.set == set {
				stem = s.stem
			}
		}
		if stem == "" {
			return nil, fmt.Errorf("omniglot folder %q: unknown set %q, want background or evaluation: %w", dir, set, ErrConfig)
		}
		its, err := omniglotSplitItems(dir, stem)
		if err != nil {
			return nil, err
		}
		items = append(items, its...)
	}
	return assemble(dir, size, params.Gray, true, items)
}

// LoadOmniglotZip loads a single Omniglot split zip file.
func LoadOmniglotZip(file string, size int) (*Dataset, error) {
	if size == 0 {
		size = DefaultSize
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("open omniglot zip: %w", err)
	}
	items, err := readOmniglotZip(filepath.Base(file), data)
	if err != nil {
		return nil, err
	}
	return assemble(file, size, params.Gray, true, items)
}
