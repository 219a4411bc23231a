package eval

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
)

// The shape of Omniglot's official one-shot benchmark (Lake et al. 2015):
// OfficialRunCount runs, each with OfficialRunWay training images (one per
// class) and OfficialRunWay test items to classify.
const (
	OfficialRunCount = 20
	OfficialRunWay   = 20
)

// OfficialRunsProtocol is the Protocol of every Report of the official runs.
const OfficialRunsProtocol = "Omniglot official 20-way one-shot runs"

// ErrRuns: an all_runs.zip does not hold Omniglot's official runs (not a
// zip, a missing or malformed class_labels.txt, a line naming a missing
// file, an undecodable image, the wrong number of runs or items).
var ErrRuns = errors.New("malformed official runs")

// maxRunEntryBytes bounds one member of all_runs.zip we agree to read; the
// real ones are under 1 KiB.
const maxRunEntryBytes = 1 << 20

// OfficialRun is one run: OfficialRunWay training images, one per class,
// and OfficialRunWay test items with the class each belongs to.
type OfficialRun struct {
	// Name is the run's folder, "run01".."run20".
	Name string
	// Classes names the training images in order ("run01/training/class01.png"...);
	// class i is Classes[i].
	Classes []string
	// Items names the test items in class_labels.txt order.
	Items []string
	// Labels[i] is the class index of Items[i].
	Labels []int
	// Training and Test hold the decoded pixels, Size*Size bytes per image,
	// in the order of Classes and Items.
	Training, Test []uint8
}

// OfficialRuns are Omniglot's 20 official one-shot runs, decoded like the
// Omniglot loader decodes its images (inverted, resized to Size×Size), so a
// model trained on episodes.Open's Omniglot sees the same pixels here.
type OfficialRuns struct {
	// Source is the file the runs came from.
	Source string
	// Size is the image side in pixels.
	Size int
	// Runs are in name order, run01 first.
	Runs []OfficialRun
	fp   string
}

// Items is the number of test items over all runs (400 for the real file).
func (r *OfficialRuns) Items() int {
	n := 0
	for _, run := range r.Runs {
		n += len(run.Items)
	}
	return n
}

// Fingerprint is the hex SHA-256 of what a classifier can see: the image
// size, and per run its name, labels and decoded pixels. It does not
// depend on file names, archive order or compression.
func (r *OfficialRuns) Fingerprint() string { return r.fp }

// LoadOfficialRuns reads all_runs.zip at file and decodes every image to
// size×size (episodes.DefaultSize when 0; at most model.MaxSize). Errors name the file, and the
// member or class_labels.txt line at fault, and wrap ErrRuns (or the I/O
// error for an unreadable file).
func LoadOfficialRuns(file string, size int) (*OfficialRuns, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("official runs: %w", err)
	}
	return ReadOfficialRuns(filepath.Base(file), data, size)
}

// ReadOfficialRuns is LoadOfficialRuns for a zip already in memory; name is
// used in errors and as Source. It never panics, whatever data holds.
func ReadOfficialRuns(name string, data []byte, size int) (*OfficialRuns, error) {
	if size == 0 {
		size = episodes.DefaultSize
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("official runs %q: %s: %w", name, fmt.Sprintf(format, args...), ErrRuns)
	}
	if size < 1 || size > model.MaxSize {
		return nil, fail("image size %d, want 1..%d", size, model.MaxSize)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fail("not a zip archive: %v", err)
	}
	files := map[string]*zip.File{}
	var labelFiles []string
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") || strings.HasPrefix(f.Name, "__MACOSX/") {
			continue
		}
		files[f.Name] = f
		if path.Base(f.Name) == "class_labels.txt" {
			labelFiles = append(labelFiles, f.Name)
		}
	}
	sort.Strings(labelFiles)
	if len(labelFiles) != OfficialRunCount {
		return nil, fail("%d runs with a class_labels.txt, want %d (run01/class_labels.txt .. run%02d/class_labels.txt)",
			len(labelFiles), OfficialRunCount, OfficialRunCount)
	}
	out := &OfficialRuns{Source: name, Size: size}
	for i, lf := range labelFiles {
		dir := path.Dir(lf)
		want := fmt.Sprintf("run%02d", i+1)
		if path.Base(dir) != want {
			return nil, fail("run %d is %q, want %s/class_labels.txt", i+1, lf, want)
		}
		run, err := readRun(files, lf)
		if err != nil {
			return nil, fail("%v", err)
		}
		out.Runs = append(out.Runs, run)
	}
	// Decode only once the whole layout is known good: a malformed archive
	// fails fast, and errors do not depend on how far decoding got.
	for i := range out.Runs {
		run := &out.Runs[i]
		if run.Training, err = decodeAll(files, run.Classes, size); err != nil {
			return nil, fail("%v", err)
		}
		if run.Test, err = decodeAll(files, run.Items, size); err != nil {
			return nil, fail("%v", err)
		}
	}
	out.fp = runsFingerprint(out)
	return out, nil
}

// readRun parses one class_labels.txt and checks the images it names. The
// label file's lines are "runNN/test/itemMM.png runNN/training/classKK.png",
// paths relative to the folder above the run.
func readRun(files map[string]*zip.File, labelFile string) (OfficialRun, error) {
	dir := path.Dir(labelFile)
	root := path.Dir(dir)
	if root == "." {
		root = ""
	} else {
		root += "/"
	}
	run := OfficialRun{Name: path.Base(dir)}
	text, err := readMember(files[labelFile])
	if err != nil {
		return run, err
	}
	// The training images are the run's classes, whether or not a label
	// line names them: a run offers every one of them to each test item.
	for n := range files {
		if path.Dir(n) == dir+"/training" && strings.HasSuffix(strings.ToLower(n), ".png") {
			run.Classes = append(run.Classes, n)
		}
	}
	sort.Strings(run.Classes)
	if len(run.Classes) != OfficialRunWay {
		return run, fmt.Errorf("%s/training holds %d images, want %d", dir, len(run.Classes), OfficialRunWay)
	}
	class := map[string]int{}
	for i, c := range run.Classes {
		class[c] = i
	}
	seen := map[string]int{}
	for ln, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		at := fmt.Sprintf("%s line %d", labelFile, ln+1)
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return run, fmt.Errorf("%s: %q has %d fields, want \"<run>/test/itemNN.png <run>/training/classNN.png\"", at, clip(line), len(fields))
		}
		item, train := root+fields[0], root+fields[1]
		if path.Dir(item) != dir+"/test" {
			return run, fmt.Errorf("%s: test item %q is not in %s/test", at, clip(fields[0]), dir)
		}
		if files[item] == nil {
			return run, fmt.Errorf("%s: test item %q is not in the archive", at, clip(item))
		}
		k, ok := class[train]
		if !ok {
			if files[train] == nil {
				return run, fmt.Errorf("%s: training image %q is not in the archive", at, clip(train))
			}
			return run, fmt.Errorf("%s: %q is not a training image of %s (want %s/training/classNN.png)", at, clip(train), dir, dir)
		}
		if prev, dup := seen[item]; dup {
			return run, fmt.Errorf("%s: test item %q is already labelled on line %d", at, item, prev)
		}
		seen[item] = ln + 1
		run.Items = append(run.Items, item)
		run.Labels = append(run.Labels, k)
	}
	if len(run.Items) != OfficialRunWay {
		return run, fmt.Errorf("%s labels %d test items, want %d", labelFile, len(run.Items), OfficialRunWay)
	}
	return run, nil
}

// decodeAll decodes the named members, size*size bytes each, one after
// another.
func decodeAll(files map[string]*zip.File, names []string, size int) ([]uint8, error) {
	px := size * size
	out := make([]uint8, 0, len(names)*px)
	for _, n := range names {
		data, err := readMember(files[n])
		if err != nil {
			return nil, err
		}
		img, err := episodes.DecodeImage(data, size, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, img...)
	}
	return out, nil
}

// readMember reads one archive member, refusing more than maxRunEntryBytes
// whatever its header claims.
func readMember(f *zip.File) ([]byte, error) {
	if f.UncompressedSize64 > maxRunEntryBytes {
		return nil, fmt.Errorf("%s: %d bytes, limit %d", f.Name, f.UncompressedSize64, maxRunEntryBytes)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRunEntryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name, err)
	}
	if len(data) > maxRunEntryBytes {
		return nil, fmt.Errorf("%s: expands past %d bytes", f.Name, maxRunEntryBytes)
	}
	return data, nil
}

// clip shortens a string quoted in an error, so a hostile file cannot make
// messages huge.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func runsFingerprint(r *OfficialRuns) string {
	h := sha256.New()
	var buf [8]byte
	putInt := func(v int) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	h.Write([]byte("fsl-official-runs-v1"))
	putInt(r.Size)
	putInt(len(r.Runs))
	for _, run := range r.Runs {
		putInt(len(run.Name))
		h.Write([]byte(run.Name))
		putInt(len(run.Labels))
		for _, l := range run.Labels {
			putInt(l)
		}
		h.Write(run.Training)
		h.Write(run.Test)
	}
	return hex.EncodeToString(h.Sum(nil))
}
