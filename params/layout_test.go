package params

import (
	"errors"
	"strings"
	"testing"
)

func TestNewLayoutComputesContiguousOffsets(t *testing.T) {
	l, err := NewLayout(
		Spec{"conv1.w", []int{64, 1, 3, 3}},
		Spec{"conv1.b", []int{64}},
		Spec{"scale", nil},
		Spec{"fc.w", []int{10, 64}},
	)
	if err != nil {
		t.Fatal(err)
	}
	wantOff := []int{0, 576, 640, 641}
	for i, e := range l.Entries {
		if e.Offset != wantOff[i] {
			t.Errorf("entry %d %q offset %d, want %d", i, e.Name, e.Offset, wantOff[i])
		}
	}
	if got, want := l.Size(), 641+640; got != want {
		t.Errorf("Size() = %d, want %d", got, want)
	}
	if err := l.Validate(); err != nil {
		t.Errorf("Validate() of a built layout: %v", err)
	}
	if got := len(New(l)); got != l.Size() {
		t.Errorf("len(New) = %d, want %d", got, l.Size())
	}
}

func TestNewLayoutCopiesShapes(t *testing.T) {
	shape := []int{2, 3}
	l, err := NewLayout(Spec{"w", shape})
	if err != nil {
		t.Fatal(err)
	}
	shape[0] = 100
	if l.Size() != 6 {
		t.Errorf("changing the caller's shape changed the layout: size %d", l.Size())
	}
}

func TestNewLayoutRejectsBadSpecs(t *testing.T) {
	tests := []struct {
		name  string
		specs []Spec
		want  string
	}{
		{"empty name", []Spec{{"", []int{1}}}, "empty name"},
		{"zero dimension", []Spec{{"w", []int{3, 0}}}, "dimension 1 is 0"},
		{"negative dimension", []Spec{{"w", []int{-2}}}, "dimension 0 is -2"},
		{"duplicate name", []Spec{{"w", []int{2}}, {"b", []int{1}}, {"w", []int{1}}}, `"w" already used by entry 0`},
		{"huge tensor", []Spec{{"w", []int{1 << 20, 1 << 20}}}, "more than"},
		{"overflowing tensor", []Spec{{"w", []int{1 << 40, 1 << 40, 1 << 40}}}, "more than"},
		{"huge total", []Spec{{"a", []int{MaxLen}}, {"b", []int{1}}}, "ends at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLayout(tt.specs...)
			if !errors.Is(err, ErrLayout) {
				t.Fatalf("err = %v, want ErrLayout", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestValidateRejectsNonContiguousLiterals(t *testing.T) {
	tests := []struct {
		name string
		l    Layout
	}{
		{"gap", Layout{Entries: []Entry{{"a", []int{2}, 0}, {"b", []int{2}, 3}}}},
		{"overlap", Layout{Entries: []Entry{{"a", []int{2}, 0}, {"b", []int{2}, 1}}}},
		{"not from zero", Layout{Entries: []Entry{{"a", []int{2}, 1}}}},
		{"duplicate", Layout{Entries: []Entry{{"a", []int{2}, 0}, {"a", []int{2}, 2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.l.Validate(); !errors.Is(err, ErrLayout) {
				t.Errorf("Validate() = %v, want ErrLayout", err)
			}
		})
	}
	if err := (Layout{}).Validate(); err != nil {
		t.Errorf("empty layout: %v", err)
	}
}

func TestHashChangesWithAnyNameShapeOrOrder(t *testing.T) {
	mk := func(specs ...Spec) Layout {
		t.Helper()
		l, err := NewLayout(specs...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	base := mk(Spec{"a", []int{2, 3}}, Spec{"b", []int{4}})
	variants := map[string]Layout{
		"base":              base,
		"renamed":           mk(Spec{"a", []int{2, 3}}, Spec{"c", []int{4}}),
		"reshaped":          mk(Spec{"a", []int{3, 2}}, Spec{"b", []int{4}}),
		"rank":              mk(Spec{"a", []int{6}}, Spec{"b", []int{4}}),
		"rank with 1":       mk(Spec{"a", []int{2, 3, 1}}, Spec{"b", []int{4}}),
		"swapped":           mk(Spec{"b", []int{4}}, Spec{"a", []int{2, 3}}),
		"extra":             mk(Spec{"a", []int{2, 3}}, Spec{"b", []int{4}}, Spec{"c", []int{1}}),
		"dropped":           mk(Spec{"a", []int{2, 3}}),
		"name boundary":     mk(Spec{"ab", []int{2, 3}}, Spec{"b", []int{4}}),
		"empty":             mk(),
		"name moved to dim": mk(Spec{"a", []int{2}}, Spec{"b", []int{3, 4}}),
	}
	seen := map[uint64]string{}
	for name, l := range variants {
		h := l.Hash()
		if other, dup := seen[h]; dup {
			t.Errorf("layouts %q and %q share hash %016x", name, other, h)
		}
		seen[h] = name
	}
	again := mk(Spec{"a", []int{2, 3}}, Spec{"b", []int{4}})
	if again.Hash() != base.Hash() {
		t.Errorf("same layout built twice: hashes %016x and %016x", again.Hash(), base.Hash())
	}
	// The hash is part of encoded vectors and checkpoints, so its byte
	// stream is fixed: FNV-1a 64 over little-endian uint64 count, then per
	// entry len(name), name, rank, dims. Recompute it by hand here.
	if got, want := base.Hash(), fnv1a64ByHand(base); got != want {
		t.Errorf("Hash() = %#016x, by hand %#016x", got, want)
	}
	if got, want := base.Hash(), uint64(0x2a228ad9684486fa); got != want {
		t.Errorf("Hash() = %#016x, want the pinned %#016x", got, want)
	}
}

func fnv1a64ByHand(l Layout) uint64 {
	h := uint64(14695981039346656037)
	eat := func(b ...byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	u64 := func(x int) {
		for i := 0; i < 8; i++ {
			eat(byte(uint64(x) >> (8 * i)))
		}
	}
	u64(len(l.Entries))
	for _, e := range l.Entries {
		u64(len(e.Name))
		eat([]byte(e.Name)...)
		u64(len(e.Shape))
		for _, d := range e.Shape {
			u64(d)
		}
	}
	return h
}

func TestLookupAndViewShareMemory(t *testing.T) {
	l, err := NewLayout(Spec{"a", []int{2}}, Spec{"b", []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := l.Lookup("b")
	if !ok || e.Offset != 2 || e.Size() != 3 {
		t.Fatalf("Lookup(b) = %+v, %v", e, ok)
	}
	if _, ok := l.Lookup("c"); ok {
		t.Error("Lookup(c) found a missing entry")
	}
	v := Vector{1, 2, 3, 4, 5}
	b, err := l.View(v, "b")
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 30
	if v[2] != 30 || len(b) != 3 || cap(b) != 3 {
		t.Errorf("View(b) = %v (cap %d) over %v: want the 3 values from 2, shared", b, cap(b), v)
	}
	if _, err := l.View(v, "c"); !errors.Is(err, ErrLayout) {
		t.Errorf("View of a missing entry: %v, want ErrLayout", err)
	}
	if _, err := l.View(v[:4], "b"); !errors.Is(err, ErrLength) {
		t.Errorf("View of a short vector: %v, want ErrLength", err)
	}
	if s := l.String(); s != "a[2]@0 b[3]@2" {
		t.Errorf("String() = %q", s)
	}
}
