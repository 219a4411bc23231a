package episodes

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsl-project/fsl/params"
)

// MiniImageNetSplits are the CSV files of Ravi & Larochelle's miniImageNet
// layout, each the class Set of its rows.
var MiniImageNetSplits = []string{"train", "val", "test"}

// csvRow is one data row of a split CSV.
type csvRow struct {
	line            int // 1-based line number in the file
	filename, label string
}

// maxCSVRows bounds a split file, so a hostile file cannot exhaust memory.
const maxCSVRows = 1 << 22

// readSplitCSV parses a "filename,label" CSV with that header. Every error
// names the file and line.
func readSplitCSV(name string, r io.Reader) ([]csvRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var rows []csvRow
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// csv.ParseError already names the line and column.
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrFormat)
		}
		line := 0
		if len(rec) > 0 {
			line, _ = cr.FieldPos(0)
		}
		if len(rec) != 2 {
			return nil, fmt.Errorf("%s:%d: %d fields, want filename,label: %w", name, line, len(rec), ErrFormat)
		}
		if first {
			if strings.TrimSpace(rec[0]) != "filename" || strings.TrimSpace(rec[1]) != "label" {
				return nil, fmt.Errorf("%s:%d: header %q,%q, want filename,label: %w", name, line, rec[0], rec[1], ErrFormat)
			}
			continue
		}
		file, label := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if file == "" || label == "" {
			return nil, fmt.Errorf("%s:%d: empty filename or label: %w", name, line, ErrFormat)
		}
		if strings.ContainsAny(file, `/\`) || file == "." || file == ".." {
			return nil, fmt.Errorf("%s:%d: filename %q must be a plain name inside images/: %w", name, line, file, ErrFormat)
		}
		if strings.Contains(label, "/") {
			return nil, fmt.Errorf("%s:%d: label %q contains '/': %w", name, line, label, ErrFormat)
		}
		if len(rows) >= maxCSVRows {
			return nil, fmt.Errorf("%s:%d: more than %d rows: %w", name, line, maxCSVRows, ErrFormat)
		}
		rows = append(rows, csvRow{line: line, filename: file, label: label})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows after the header: %w", name, ErrEmpty)
	}
	return rows, nil
}

// isMiniImageNetDir reports whether dir looks like the miniImageNet layout.
func isMiniImageNetDir(dir string) bool {
	if !fileExists(filepath.Join(dir, "images")) {
		return false
	}
	for _, s := range MiniImageNetSplits {
		if fileExists(filepath.Join(dir, s+".csv")) {
			return true
		}
	}
	return false
}

// LoadMiniImageNet loads the miniImageNet layout in dir: <split>.csv files
// of "filename,label" rows naming JPEGs in dir/images. sets picks among
// "train", "val" and "test" (none means all three). Each label is a class
// (its own group) with Set the CSV it came from. Images are converted to
// grayscale (channels 0 or 1) or to RGB planes (channels 3), and each plane
// is resized to size×size (28 when size is 0).
func LoadMiniImageNet(dir string, size, channels int, sets ...string) (*Dataset, error) {
	if size == 0 {
		size = DefaultSize
	}
	channels = max(channels, params.Gray)
	if len(sets) == 0 {
		sets = MiniImageNetSplits
	}
	imgDir := filepath.Join(dir, "images")
	var items []item
	for _, set := range sets {
		csvPath := filepath.Join(dir, set+".csv")
		f, err := os.Open(csvPath)
		if err != nil {
			return nil, fmt.Errorf("miniImageNet %q: split %q: %w", dir, set, err)
		}
		rows, err := readSplitCSV(csvPath, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			p := filepath.Join(imgDir, r.filename)
			if _, err := os.Stat(p); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("%s:%d: image %q not found in %q: %w", csvPath, r.line, r.filename, imgDir, ErrMissing)
				}
				return nil, fmt.Errorf("%s:%d: %w", csvPath, r.line, err)
			}
			items = append(items, item{class: r.label, group: r.label, set: set, source: p, drawer: -1,
				read: func() ([]byte, error) { return readFileLimited(p) }})
		}
	}
	return assemble(dir, size, channels, false, items)
}
