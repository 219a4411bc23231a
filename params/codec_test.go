package params

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func specialVector() Vector {
	return Vector{
		0, float32(math.Copysign(0, -1)), 1, -1, 3.1415927, 1e-40, -1e-45,
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800123),
	}
}

func TestFloat32RoundTripIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, v := range []Vector{nil, {}, specialVector(), wideVector(r, 1000)} {
		const hash = 0xdeadbeefcafef00d
		b := Encode(v, hash, Float32)
		if len(b) != EncodedLen(len(v), Float32) {
			t.Errorf("len %d, EncodedLen %d", len(b), EncodedLen(len(v), Float32))
		}
		got, h, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if h != hash || !got.Equal(v) {
			t.Errorf("round trip of %d values: hash %x, equal %v", len(v), h, got.Equal(v))
		}
	}
}

func TestBF16RoundTripKeepsBF16Precision(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	v := wideVector(r, 5000)
	got, _, err := Decode(Encode(v, 0, BFloat16))
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		x, y := float64(v[i]), float64(got[i])
		if math.Abs(x-y) > math.Abs(x)/256 {
			t.Fatalf("value %d: %g became %g, more than 2^-8 relative", i, x, y)
		}
	}
	if want := RoundBF16(v); !got.Equal(want) {
		t.Error("decoded bf16 differs from RoundBF16")
	}
	if len(Encode(v, 0, BFloat16)) != EncodedLen(len(v), BFloat16) {
		t.Error("bf16 EncodedLen disagrees with Encode")
	}
}

func TestBF16RoundsToNearestEven(t *testing.T) {
	ulp := math.Pow(2, -7) // bf16 spacing in [1, 2)
	tests := []struct {
		name string
		in   float32
		want float32
	}{
		{"exact", 1.5, 1.5},
		{"below half rounds down", float32(1 + ulp*0.49), 1},
		{"above half rounds up", float32(1 + ulp*0.51), float32(1 + ulp)},
		{"tie to even down", float32(1 + ulp/2), 1},
		{"tie to even up", float32(1 + 1.5*ulp), float32(1 + 2*ulp)},
		{"negative tie", float32(-(1 + ulp/2)), -1},
		{"max float32 overflows", math.MaxFloat32, float32(math.Inf(1))},
		{"largest bf16 stays", math.Float32frombits(0x7f7f0000), math.Float32frombits(0x7f7f0000)},
		{"infinity", float32(math.Inf(-1)), float32(math.Inf(-1))},
		{"subnormal", math.Float32frombits(0x00018000), math.Float32frombits(0x00020000)},
	}
	for _, tt := range tests {
		if got := fromBF16(toBF16(tt.in)); math.Float32bits(got) != math.Float32bits(tt.want) {
			t.Errorf("%s: %g (%08x) -> %g (%08x), want %g", tt.name, tt.in, math.Float32bits(tt.in), got, math.Float32bits(got), tt.want)
		}
	}
	for _, bits := range []uint32{0x7fc00000, 0x7f800001, 0xff80ffff, 0x7fffffff} {
		if got := fromBF16(toBF16(math.Float32frombits(bits))); !math.IsNaN(float64(got)) {
			t.Errorf("NaN %08x became %g", bits, got)
		}
	}
	for h := range 1 << 16 {
		if got := toBF16(fromBF16(uint16(h))); got != uint16(h) {
			t.Fatalf("bf16 %04x widened and rounded to %04x", h, got)
		}
	}
}

func TestDecodeRejectsEverySingleByteChange(t *testing.T) {
	for _, enc := range []Encoding{Float32, BFloat16} {
		b := Encode(Vector{1, -2.5, 3e-3, 0, 7}, 0x0123456789abcdef, enc)
		for i := range b {
			for _, mask := range []byte{0x01, 0x10, 0x80, 0xff} {
				c := bytes.Clone(b)
				c[i] ^= mask
				if _, _, err := Decode(c); err == nil {
					t.Errorf("%v: byte %d ^ %#x accepted", enc, i, mask)
				} else if !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrFormat) {
					t.Errorf("%v: byte %d ^ %#x: %v, want ErrChecksum or ErrFormat", enc, i, mask, err)
				}
			}
		}
	}
}

func TestDecodeRejectsTruncationAndTrailingBytes(t *testing.T) {
	b := Encode(Vector{1, 2, 3}, 9, Float32)
	for n := range len(b) {
		if _, _, err := Decode(b[:n]); err == nil {
			t.Errorf("first %d of %d bytes accepted", n, len(b))
		}
	}
	if _, _, err := Decode(append(bytes.Clone(b), 0)); err == nil {
		t.Error("a trailing byte was accepted")
	}
	two := append(bytes.Clone(b), b...)
	if _, _, err := Decode(two); err == nil {
		t.Error("two concatenated vectors were accepted as one")
	}
}

// reseal rewrites the checksum so that a test can reach the checks behind it.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestDecodeRejectsValidlySealedNonsense(t *testing.T) {
	good := Encode(Vector{1, 2}, 5, Float32)
	tests := []struct {
		name   string
		mutate func(b []byte)
	}{
		{"format version 2", func(b []byte) { b[4] = 2 }},
		{"encoding 0", func(b []byte) { b[5] = 0 }},
		{"encoding 3", func(b []byte) { b[5] = 3 }},
		{"reserved byte", func(b []byte) { b[7] = 1 }},
		{"length one more", func(b []byte) { b[8]++ }},
		{"length one less", func(b []byte) { b[8]-- }},
		{"bf16 tag on f32 payload", func(b []byte) { b[5] = byte(BFloat16) }},
		{"absurd length", func(b []byte) { binary.LittleEndian.PutUint32(b[8:], math.MaxUint32) }},
		{"length MaxLen+1", func(b []byte) { binary.LittleEndian.PutUint32(b[8:], MaxLen+1) }},
	}
	for _, tt := range tests {
		b := bytes.Clone(good)
		tt.mutate(b)
		if _, _, err := Decode(reseal(b)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", tt.name, err)
		}
	}
	if _, _, err := Decode([]byte("FSLW" + string(good[4:]))); !errors.Is(err, ErrFormat) {
		t.Errorf("bad magic: %v, want ErrFormat", err)
	}
}

func TestDecodeOfAbsurdLengthAllocatesLittle(t *testing.T) {
	b := Encode(Vector{1}, 0, Float32)
	binary.LittleEndian.PutUint32(b[8:], MaxLen)
	reseal(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, _, err := Decode(b); !errors.Is(err, ErrFormat) {
			t.Fatalf("claimed %d values in %d bytes: %v", MaxLen, len(b), err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("10 decodes of a lying header allocated %d bytes", got)
	}
}

func TestDecodeForChecksLayout(t *testing.T) {
	l, _ := NewLayout(Spec{"w", []int{2, 2}})
	other, _ := NewLayout(Spec{"v", []int{2, 2}})
	v := Vector{1, 2, 3, 4}
	if got, err := DecodeFor(Encode(v, l.Hash(), Float32), l); err != nil || !got.Equal(v) {
		t.Errorf("DecodeFor = %v, %v", got, err)
	}
	if _, err := DecodeFor(Encode(v, other.Hash(), Float32), l); !errors.Is(err, ErrLayout) {
		t.Errorf("foreign layout hash: %v, want ErrLayout", err)
	}
	if _, err := DecodeFor(Encode(v[:3], l.Hash(), Float32), l); !errors.Is(err, ErrLayout) {
		t.Errorf("wrong length: %v, want ErrLayout", err)
	}
	if _, err := DecodeFor([]byte("junk"), l); !errors.Is(err, ErrFormat) {
		t.Errorf("junk: %v, want ErrFormat", err)
	}
}

func TestAppendEncodeChecksumsOnlyItsOwnBytes(t *testing.T) {
	prefix := []byte("header-of-a-bigger-message")
	b := AppendEncode(bytes.Clone(prefix), Vector{1, 2}, 3, BFloat16)
	if !bytes.Equal(b[:len(prefix)], prefix) {
		t.Fatal("prefix changed")
	}
	if !bytes.Equal(b[len(prefix):], Encode(Vector{1, 2}, 3, BFloat16)) {
		t.Error("appended bytes differ from Encode's")
	}
}

func TestEncodingNames(t *testing.T) {
	for _, s := range []string{"f32", "float32", "bf16", "bfloat16"} {
		e, err := ParseEncoding(s)
		if err != nil {
			t.Errorf("ParseEncoding(%q): %v", s, err)
		}
		if e2, _ := ParseEncoding(e.String()); e2 != e {
			t.Errorf("%q -> %v does not parse back", s, e)
		}
	}
	if _, err := ParseEncoding("fp8"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseEncoding(fp8): %v", err)
	}
	if s := Encoding(9).String(); s != "encoding(9)" {
		t.Errorf("String() = %q", s)
	}
}

func TestEncodePanicsOnInvalidEncoding(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Encode with encoding 0 did not panic")
		}
	}()
	Encode(Vector{1}, 0, 0)
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Vector{1, 2, 3}, 42, Float32))
	f.Add(Encode(specialVector(), 7, BFloat16))
	f.Add(Encode(nil, 0, Float32))
	f.Add([]byte("FSLV"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, h, err := Decode(b)
		if err != nil {
			if v != nil {
				t.Errorf("error %v with a non-nil vector", err)
			}
			return
		}
		// Whatever decodes re-encodes to the same bytes: the format has one
		// spelling per vector.
		if again := Encode(v, h, Encoding(b[5])); !bytes.Equal(again, b) {
			t.Errorf("decode then encode changed the bytes:\n in %x\nout %x", b, again)
		}
	})
}
