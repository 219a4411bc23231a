package params

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
)

// MaxLen is the largest number of values a Layout may describe: 2^30
// float32 values (4 GiB).
const MaxLen = 1 << 30

// Entry is one named tensor inside a flat vector: Shape's product values
// starting at Offset.
type Entry struct {
	Name   string
	Shape  []int
	Offset int
}

// Size is the number of values of the entry: the product of Shape, 1 for a
// scalar (empty Shape).
func (e Entry) Size() int {
	n := 1
	for _, d := range e.Shape {
		n *= d
	}
	return n
}

// Layout maps a flat vector to named tensors. Entries are contiguous and in
// order; the layout is immutable once built.
type Layout struct {
	Entries []Entry
}

// Spec names one tensor and its shape, for NewLayout.
type Spec struct {
	Name  string
	Shape []int
}

// NewLayout lays the tensors out one after the other in the given order and
// returns the validated layout. Shapes are copied: the caller may reuse them.
func NewLayout(specs ...Spec) (Layout, error) {
	l := Layout{Entries: make([]Entry, len(specs))}
	off := 0
	for i, s := range specs {
		e := Entry{Name: s.Name, Shape: append([]int(nil), s.Shape...), Offset: off}
		if err := checkShape(e); err != nil {
			return Layout{}, fmt.Errorf("params: new layout: entry %d: %w", i, err)
		}
		l.Entries[i] = e
		off += e.Size()
		if off > MaxLen {
			return Layout{}, fmt.Errorf("params: new layout: entry %d %q ends at %d values, more than %d: %w",
				i, e.Name, off, MaxLen, ErrLayout)
		}
	}
	if err := l.Validate(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

// checkShape rejects empty names and non-positive dimensions, and products
// that would exceed MaxLen (checked before multiplying, so it cannot
// overflow).
func checkShape(e Entry) error {
	if e.Name == "" {
		return fmt.Errorf("empty name: %w", ErrLayout)
	}
	n := 1
	for j, d := range e.Shape {
		if d <= 0 {
			return fmt.Errorf("%q: dimension %d is %d, want > 0: %w", e.Name, j, d, ErrLayout)
		}
		if n > MaxLen/d {
			return fmt.Errorf("%q: shape %v holds more than %d values: %w", e.Name, e.Shape, MaxLen, ErrLayout)
		}
		n *= d
	}
	return nil
}

// Validate checks that names are non-empty and unique, dimensions positive,
// entries contiguous from offset 0 in order, and the total at most MaxLen.
// The error wraps ErrLayout and names the first entry at fault.
func (l Layout) Validate() error {
	seen := make(map[string]int, len(l.Entries))
	off := 0
	for i, e := range l.Entries {
		if err := checkShape(e); err != nil {
			return fmt.Errorf("params: layout entry %d: %w", i, err)
		}
		if j, dup := seen[e.Name]; dup {
			return fmt.Errorf("params: layout entry %d: name %q already used by entry %d: %w", i, e.Name, j, ErrLayout)
		}
		seen[e.Name] = i
		if e.Offset != off {
			return fmt.Errorf("params: layout entry %d %q: offset %d, want %d (entries must be contiguous): %w",
				i, e.Name, e.Offset, off, ErrLayout)
		}
		off += e.Size()
		if off > MaxLen {
			return fmt.Errorf("params: layout entry %d %q ends at %d values, more than %d: %w", i, e.Name, off, MaxLen, ErrLayout)
		}
	}
	return nil
}

// Size is the total number of values: the length of a Vector of this layout.
// It assumes a valid layout (see Validate).
func (l Layout) Size() int {
	if len(l.Entries) == 0 {
		return 0
	}
	last := l.Entries[len(l.Entries)-1]
	return last.Offset + last.Size()
}

// Lookup returns the entry called name. It scans the entries: layouts have
// tens of entries, and a Layout built as a literal needs no index.
func (l Layout) Lookup(name string) (Entry, bool) {
	for _, e := range l.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// View returns the values of the entry called name inside v, sharing v's
// memory. It fails if there is no such entry or v is too short for it.
func (l Layout) View(v Vector, name string) ([]float32, error) {
	e, ok := l.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("params: view %q: no such entry: %w", name, ErrLayout)
	}
	end := e.Offset + e.Size()
	if e.Offset < 0 || end > len(v) {
		return nil, fmt.Errorf("params: view %q: values [%d, %d) outside a vector of length %d: %w",
			name, e.Offset, end, len(v), ErrLength)
	}
	return v[e.Offset:end:end], nil
}

// Equal reports whether l and m describe the same entries: names, shapes
// and offsets, in order.
func (l Layout) Equal(m Layout) bool {
	return slices.EqualFunc(l.Entries, m.Entries, func(x, y Entry) bool {
		return x.Name == y.Name && x.Offset == y.Offset && slices.Equal(x.Shape, y.Shape)
	})
}

// Hash is a 64-bit FNV-1a digest of the entries' names and shapes in order
// (offsets follow from them). Any change of a name, a dimension, the rank or
// the order of entries changes it, with the usual 2^-64 chance of a
// collision; it is stable across processes, machines and Go versions.
func (l Layout) Hash() uint64 {
	h := fnv.New64a()
	var b [8]byte
	put := func(x int) {
		binary.LittleEndian.PutUint64(b[:], uint64(x))
		h.Write(b[:])
	}
	// Length prefixes keep ("ab", "c") and ("a", "bc") apart.
	put(len(l.Entries))
	for _, e := range l.Entries {
		put(len(e.Name))
		h.Write([]byte(e.Name))
		put(len(e.Shape))
		for _, d := range e.Shape {
			put(d)
		}
	}
	return h.Sum64()
}

// String lists the entries, e.g. "conv1.w[64 1 3 3]@0 conv1.b[64]@576".
func (l Layout) String() string {
	b := make([]byte, 0, 32*len(l.Entries))
	for i, e := range l.Entries {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%s%v@%d", e.Name, e.Shape, e.Offset)
	}
	return string(b)
}
