package episodes

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ClassList is a split given as a list of classes, one per line, each
// "Alphabet/characterNN/rotDDD" (DDD one of 000, 090, 180, 270): a character
// of either Omniglot zip with the rotation it is seen at, as in the class
// lists of Vinyals et al.'s split (splits/vinyals/ beside the zips). Blank
// lines and lines starting with # are skipped.
type ClassList struct {
	// Path is where the list was read from, for messages.
	Path    string
	Entries []ClassEntry
}

// ClassEntry is one line of a ClassList.
type ClassEntry struct {
	Line      int    // 1-based line number in the file
	Character string // "Alphabet/characterNN"
	Rotation  int    // quarter turns counterclockwise, 0..3
}

// String is the entry as the file writes it.
func (e ClassEntry) String() string { return fmt.Sprintf("%s/rot%03d", e.Character, 90*e.Rotation) }

// maxClassListBytes bounds a class-list file (Vinyals' train list is 100 KB).
const maxClassListBytes = 16 << 20

var classLine = regexp.MustCompile(`^([^/\s]+)/([^/\s]+)/rot(\d{3})$`)

// ParseClassList reads a class list from b; path names it in errors, which
// wrap ErrFormat and name the line at fault. A class listed twice is an
// error too.
func ParseClassList(path string, b []byte) (*ClassList, error) {
	l := &ClassList{Path: path}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 4096)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := classLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: %q is not Alphabet/characterNN/rotDDD: %w", path, n, clip(line), ErrFormat)
		}
		deg, _ := strconv.Atoi(m[3])
		if deg%90 != 0 || deg >= 360 {
			return nil, fmt.Errorf("%s:%d: rotation rot%s, want rot000, rot090, rot180 or rot270: %w", path, n, m[3], ErrFormat)
		}
		e := ClassEntry{Line: n, Character: m[1] + "/" + m[2], Rotation: deg / 90}
		if first, dup := seen[e.String()]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed already on line %d: %w", path, n, e, first, ErrFormat)
		}
		seen[e.String()] = n
		l.Entries = append(l.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrFormat)
	}
	if len(l.Entries) == 0 {
		return nil, fmt.Errorf("%s: no classes: %w", path, ErrEmpty)
	}
	return l, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ReadClassList reads the class list in file path (see ClassList).
func ReadClassList(path string) (*ClassList, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("split file: %w", err)
	}
	if st.Size() > maxClassListBytes {
		return nil, fmt.Errorf("split file %s: %d bytes, more than %d: %w", path, st.Size(), maxClassListBytes, ErrFormat)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("split file: %w", err)
	}
	return ParseClassList(path, b)
}

// SplitFile says whether split names a class-list file for the dataset
// spec and returns its path: a split ending in ".txt" is a path (relative
// to the working directory), and "NAME/LIST" (e.g. "vinyals/test") names
// splits/NAME/LIST.txt beside the Omniglot zips of the dataset folder spec.
// Other splits are names Select knows ("train", "test", ...): "".
func SplitFile(spec, split string) string {
	if strings.HasSuffix(split, ".txt") {
		return split
	}
	if strings.Count(split, "/") == 1 && !strings.HasPrefix(split, "/") && !strings.HasSuffix(split, "/") && spec != "" {
		if st, err := os.Stat(spec); err == nil && st.IsDir() {
			return filepath.Join(spec, "splits", filepath.FromSlash(split)+".txt")
		}
	}
	return ""
}

// ReadList reads the class list o.Split names for the dataset spec (see
// SplitFile) into o.List, unless o.List is set already or the split names
// no file.
func (o *Options) ReadList(spec string) error {
	f := SplitFile(spec, o.Split)
	if f == "" || o.List != nil {
		return nil
	}
	l, err := ReadClassList(f)
	if err != nil {
		return fmt.Errorf("split %q: %w", o.Split, err)
	}
	o.List = l
	return nil
}

// selectList returns the classes of ds that l names, in l's order, each at
// its listed rotation and named "Alphabet/characterNN" or, rotated,
// "Alphabet/characterNN/rot90" etc. (the names Options.Rotations gives). A
// character ds does not have is an error naming the line.
func selectList(ds *Dataset, l *ClassList) ([]Class, error) {
	byName := make(map[string]Class, len(ds.Classes))
	for _, c := range ds.Classes {
		if c.Rotation == 0 {
			byName[c.Name] = c
		}
	}
	out := make([]Class, 0, len(l.Entries))
	for _, e := range l.Entries {
		c, ok := byName[e.Character]
		if !ok {
			return nil, fmt.Errorf("%s:%d: %s: no character %s in %s (%d characters): %w",
				l.Path, e.Line, e, e.Character, ds.Name, len(byName), ErrMissing)
		}
		c.Rotation = e.Rotation
		if e.Rotation > 0 {
			c.Name = fmt.Sprintf("%s/rot%d", e.Character, 90*e.Rotation)
		}
		out = append(out, c)
	}
	return out, nil
}

// CheckDisjoint reports an error naming the first line of b whose character
// also appears in a (at any rotation): a test class whose character was
// trained on, which would make a test figure meaningless.
func CheckDisjoint(a, b *ClassList) error {
	in := make(map[string]int, len(a.Entries))
	for _, e := range a.Entries {
		if _, ok := in[e.Character]; !ok {
			in[e.Character] = e.Line
		}
	}
	for _, e := range b.Entries {
		if line, ok := in[e.Character]; ok {
			return fmt.Errorf("%s:%d: %s: character %s is also in %s (line %d): %w", b.Path, e.Line, e, e.Character, a.Path, line, ErrConfig)
		}
	}
	return nil
}
