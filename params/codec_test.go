package params

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// encodeVector writes v with a u32 length, as wire does.
func encodeVector(v Vector) []byte {
	e := NewEncoder(nil)
	e.Len32("v", len(v))
	e.Float32s(v)
	return e.Bytes()
}

func decodeVector(t testing.TB, b []byte) Vector {
	t.Helper()
	d := NewDecoder(b)
	v := d.Float32s("v", d.Len32("v", 4))
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	if d.Remaining() != 0 {
		t.Fatalf("%d bytes left after the vector", d.Remaining())
	}
	return v
}

func TestCodecRoundTripsEveryFieldBitForBit(t *testing.T) {
	nan := math.Float32frombits(0x7fc00123)
	v := Vector{0, float32(math.Copysign(0, -1)), 1.5, -3e-39, nan, float32(math.Inf(-1))}
	e := NewEncoder([]byte("prefix"))
	e.U8(7)
	e.Bool(true)
	e.Bool(false)
	e.U16(0xbeef)
	e.U32(0xdeadbeef)
	e.U64(1<<63 + 5)
	e.Int(-42)
	e.F64(math.Pi)
	e.Raw([]byte("raw"))
	e.Len32("v", len(v))
	e.Float32s(v)
	if e.Err() != nil {
		t.Fatal(e.Err())
	}
	b := e.Bytes()
	if string(b[:6]) != "prefix" {
		t.Fatalf("encoder did not append to its dst: %q", b[:6])
	}
	d := NewDecoder(b[6:])
	checks := []struct {
		name      string
		got, want any
	}{
		{"u8", d.U8("u8"), uint8(7)},
		{"bool true", d.Bool("t"), true},
		{"bool false", d.Bool("f"), false},
		{"u16", d.U16("u16"), uint16(0xbeef)},
		{"u32", d.U32("u32"), uint32(0xdeadbeef)},
		{"u64", d.U64("u64"), uint64(1<<63 + 5)},
		{"int", d.Int("int"), -42},
		{"f64", d.F64("f64"), math.Pi},
		{"raw", string(d.Take("raw", 3)), "raw"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	got := d.Float32s("v", d.Len32("v", 4))
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("err %v, %d bytes left", d.Err(), d.Remaining())
	}
	if !got.Equal(v) {
		t.Errorf("vector %v, want %v bit for bit", got, v)
	}
}

func TestDecoderRefusesWhatTheBytesCannotHold(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		read func(d *Decoder)
	}{
		{"u64 from 3 bytes", []byte{1, 2, 3}, func(d *Decoder) { d.U64("x") }},
		{"bool byte 2", []byte{2}, func(d *Decoder) { d.Bool("flag") }},
		{"length beyond the input", []byte{0xff, 0xff, 0xff, 0xff, 0, 0}, func(d *Decoder) { d.Len32("grads", 4) }},
		{"length of 4-byte values over 3 bytes", []byte{1, 0, 0, 0, 9, 9, 9}, func(d *Decoder) { d.Len32("grads", 4) }},
		{"negative take", nil, func(d *Decoder) { d.Take("x", -1) }},
		{"floats past the end", []byte{1, 2, 3, 4}, func(d *Decoder) { d.Float32s("v", 2) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(c.in)
			c.read(d)
			if !errors.Is(d.Err(), ErrFormat) {
				t.Fatalf("err %v, want ErrFormat", d.Err())
			}
			// The failure sticks: later reads give zero values.
			if d.U8("after") != 0 || d.Float32s("after", 1) != nil {
				t.Fatal("a read after the failure returned data")
			}
		})
	}
}

func TestDecodedVectorsDoNotAliasTheInput(t *testing.T) {
	b := encodeVector(Vector{1, 2})
	v := decodeVector(t, b)
	for i := range b {
		b[i] = 0xff
	}
	if !v.Equal(Vector{1, 2}) {
		t.Fatalf("decoded vector changed with its input: %v", v)
	}
}

func TestEncoderFailsOnALengthBeyondItsPrefix(t *testing.T) {
	e := NewEncoder(nil)
	e.Len32("pixels", math.MaxUint32+1)
	if !errors.Is(e.Err(), ErrTooLong) {
		t.Fatalf("err %v, want ErrTooLong", e.Err())
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add(encodeVector(Vector{1, 2, 3}))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		d.Bool("b")
		n := d.Len32("v", 4)
		v := d.Float32s("v", n)
		if d.Err() == nil && 4*len(v) > len(b) {
			t.Fatalf("decoded %d values from %d bytes", len(v), len(b))
		}
		d.Int("i")
		d.F64("f")
	})
}

// TestBulkFloatCopyWritesTheLoopsBytes: the one-copy path of the codec's
// float vectors (little-endian machines) writes and reads exactly the
// bytes of the value-by-value loop, NaN payloads and signed zeros included.
func TestBulkFloatCopyWritesTheLoopsBytes(t *testing.T) {
	if !nativeLittle {
		t.Skip("big-endian machine: the codec uses the loop only")
	}
	v := []float32{0, float32(math.Copysign(0, -1)), 1, -2.5, math.MaxFloat32, math.SmallestNonzeroFloat32,
		float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800123)}
	for i := 0; i < 100; i++ {
		v = append(v, math.Float32frombits(uint32(i)*0x9e3779b9))
	}
	loop, bulk := make([]byte, 4*len(v)), make([]byte, 4*len(v))
	putFloat32s(loop, v, false)
	putFloat32s(bulk, v, true)
	if !bytes.Equal(loop, bulk) {
		t.Fatal("the bulk copy writes other bytes than the loop")
	}
	a, b := make([]float32, len(v)), make([]float32, len(v))
	getFloat32s(a, loop, false)
	getFloat32s(b, loop, true)
	for i := range v {
		if math.Float32bits(a[i]) != math.Float32bits(v[i]) || math.Float32bits(b[i]) != math.Float32bits(v[i]) {
			t.Fatalf("value %d: loop %08x, bulk %08x, want %08x", i, math.Float32bits(a[i]), math.Float32bits(b[i]), math.Float32bits(v[i]))
		}
	}
}
