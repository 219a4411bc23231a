package params

// Entry is one named tensor inside a flat vector: Shape's product values
// starting at Offset.
type Entry struct {
	Name   string
	Shape  []int
	Offset int
}

// Size is the number of values of the entry.
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

// Vector is a flat float32 parameter, gradient or state vector laid out by a
// Layout.
type Vector []float32
