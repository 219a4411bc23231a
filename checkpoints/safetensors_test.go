package checkpoints

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// sampleSafetensors has a conv-like weight, a vector with NaN and
// infinities (whose bits must survive), a scalar and an empty tensor.
func sampleSafetensors() Safetensors {
	w := fill(make(params.Vector, 2*3*3*3), 1)
	odd := params.Vector{float32(math.NaN()), math.Float32frombits(0x7fc00001), float32(math.Inf(-1)), -0.0, 1e-40}
	return Safetensors{
		Metadata: map[string]string{"format": "pt", "fsl.job": "j\"ob", "fsl.step": "20"},
		Tensors: []Tensor{
			{Name: "encoder.0.conv.weight", Shape: []int{2, 3, 3, 3}, Data: w},
			{Name: "odd", Shape: []int{5}, Data: odd},
			{Name: "scalar", Shape: []int{}, Data: []float32{3.5}},
			{Name: "empty", Shape: []int{0, 4}, Data: []float32{}},
			{Name: "last", Shape: []int{1, 1}, Data: []float32{-2}},
		},
	}
}

func encodeSafetensors(t testing.TB, s Safetensors) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSafetensorsFollowsTheFormat reads a written file by the format's
// rules, not by ReadSafetensors.
func TestSafetensorsFollowsTheFormat(t *testing.T) {
	s := sampleSafetensors()
	b := encodeSafetensors(t, s)
	if len(b) < 8 {
		t.Fatalf("%d bytes", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > uint64(len(b)-8) {
		t.Fatalf("header length %d, file %d bytes", n, len(b))
	}
	if (8+n)%8 != 0 {
		t.Errorf("data starts at %d, not 8-byte aligned", 8+n)
	}
	hdr, data := b[8:8+n], b[8+n:]
	if hdr[0] != '{' {
		t.Errorf("header starts with %q", hdr[0])
	}
	trimmed := bytes.TrimRight(hdr, " ")
	if trimmed[len(trimmed)-1] != '}' {
		t.Errorf("header is padded with something else than spaces: %q", hdr[len(trimmed):])
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &fields); err != nil {
		t.Fatalf("header is not a JSON object: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal(fields["__metadata__"], &meta); err != nil || !mapsEqual(meta, s.Metadata) {
		t.Errorf("__metadata__ %s (%v), want %v", fields["__metadata__"], err, s.Metadata)
	}
	if len(fields) != len(s.Tensors)+1 {
		t.Errorf("%d header keys, want %d tensors and __metadata__", len(fields), len(s.Tensors))
	}
	var end uint64
	for _, want := range s.Tensors {
		var e struct {
			Dtype       string   `json:"dtype"`
			Shape       []int    `json:"shape"`
			DataOffsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(fields[want.Name], &e); err != nil {
			t.Fatalf("tensor %q: %v in %s", want.Name, err, fields[want.Name])
		}
		if e.Dtype != "F32" || !slices.Equal(e.Shape, want.Shape) || e.Shape == nil || len(e.DataOffsets) != 2 {
			t.Errorf("tensor %q: %+v", want.Name, e)
			continue
		}
		// In the order written, each tensor's data follows the previous one.
		if e.DataOffsets[0] != end || e.DataOffsets[1] != end+4*uint64(len(want.Data)) {
			t.Errorf("tensor %q: data_offsets %v, want [%d %d]", want.Name, e.DataOffsets, end, end+4*uint64(len(want.Data)))
		}
		for i, v := range want.Data {
			if got := binary.LittleEndian.Uint32(data[end+4*uint64(i):]); got != math.Float32bits(v) {
				t.Errorf("tensor %q value %d: bits %#x, want %#x", want.Name, i, got, math.Float32bits(v))
			}
		}
		end = e.DataOffsets[1]
	}
	if end != uint64(len(data)) {
		t.Errorf("tensors end at %d, data is %d bytes", end, len(data))
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameTensors(a, b []Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Shape, b[i].Shape) || len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				return false
			}
		}
	}
	return true
}

func TestSafetensorsRoundTripIsBitIdentical(t *testing.T) {
	s := sampleSafetensors()
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteSafetensorsFile(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSafetensorsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTensors(got.Tensors, s.Tensors) || !mapsEqual(got.Metadata, s.Metadata) {
		t.Errorf("read back %+v\nwant %+v", got, s)
	}
	// Without metadata the header has no __metadata__ key.
	plain := encodeSafetensors(t, Safetensors{Tensors: s.Tensors[:1]})
	if bytes.Contains(plain, []byte(SafetensorsMetadataKey)) {
		t.Errorf("empty metadata written: %q", plain[:64])
	}
}

func TestSafetensorsVectorsFollowLayouts(t *testing.T) {
	pl, err := params.NewLayout(params.Spec{Name: "a", Shape: []int{2, 3}}, params.Spec{Name: "b", Shape: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := params.NewLayout(params.Spec{Name: "m", Shape: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	p, st := fill(make(params.Vector, 10), 3), fill(make(params.Vector, 2), 4)
	pt, err := LayoutTensors(pl, p)
	if err != nil {
		t.Fatal(err)
	}
	stt, err := LayoutTensors(sl, st)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, Safetensors{Tensors: append(pt, stt...)}); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSafetensors(&buf)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := s.Vectors(pl, sl)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vs[0], p) || !slices.Equal(vs[1], st) {
		t.Errorf("vectors %v %v, want %v %v", vs[0], vs[1], p, st)
	}
	other, _ := params.NewLayout(params.Spec{Name: "a", Shape: []int{3, 2}}, params.Spec{Name: "b", Shape: []int{4}})
	missing, _ := params.NewLayout(params.Spec{Name: "z", Shape: []int{1}})
	for _, tc := range []struct {
		name    string
		layouts []params.Layout
		want    string
	}{
		{"shape", []params.Layout{other, sl}, `"a" has shape [2 3], want [3 2]`},
		{"missing", []params.Layout{pl, sl, missing}, `"z" is missing`},
		{"unused", []params.Layout{pl}, `"m" is not part of the model`},
	} {
		if _, err := s.Vectors(tc.layouts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := LayoutTensors(pl, p[:9]); err == nil {
		t.Errorf("LayoutTensors accepted a short vector")
	}
}

// withHeader is a file with the given header (unpadded) and data.
func withHeader(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

func TestReadSafetensorsRejectsMalformedFiles(t *testing.T) {
	good := encodeSafetensors(t, sampleSafetensors())
	four := make([]byte, 4)
	huge := binary.LittleEndian.AppendUint64(nil, 1<<40)
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"truncated header", good[:20], "truncated"},
		{"truncated data", good[:len(good)-1], "truncated"},
		{"bytes after the data", append(slices.Clone(good), 0), "bytes follow"},
		{"header too long", append(huge, '{', '}'), "header of"},
		{"not an object", withHeader(`[1] `, nil), "starts with"},
		{"padding not spaces", withHeader(`{}x`, nil), "after the JSON object"},
		{"tab padding", withHeader("{}\t", nil), "after the JSON object"},
		{"bad JSON", withHeader(`{"a":`, nil), "safetensors header"},
		{"repeated key", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), "twice"},
		{"dtype", withHeader(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, four), `dtype "F16"`},
		{"unknown field", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, four), "unknown field"},
		{"no shape", withHeader(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, four), "want shape"},
		{"negative dimension", withHeader(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four), "negative"},
		{"huge shape", withHeader(`{"a":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4]}}`, four), "more than"},
		{"offsets for another shape", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four), "data_offsets"},
		{"reversed offsets", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, four), "data_offsets"},
		{"gap", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "contiguous"},
		{"overlap", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), "contiguous"},
		{"metadata not strings", withHeader(`{"__metadata__":{"a":1}}`, nil), "object of strings"},
		{"empty name", withHeader(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), "empty name"},
		{"claims more data than given", withHeader(`{"a":{"dtype":"F32","shape":[100000000],"data_offsets":[0,400000000]}}`, four), "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSafetensors(bytes.NewReader(tc.file))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want ErrCorrupt with %q", err, tc.want)
			}
		})
	}
}

func TestWriteSafetensorsRejectsBadTensors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []Tensor
	}{
		{"empty name", []Tensor{{Name: "", Shape: []int{1}, Data: []float32{1}}}},
		{"reserved name", []Tensor{{Name: SafetensorsMetadataKey, Shape: []int{1}, Data: []float32{1}}}},
		{"repeated name", []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}},
		{"data and shape differ", []Tensor{{Name: "a", Shape: []int{2}, Data: []float32{1}}}},
		{"negative dimension", []Tensor{{Name: "a", Shape: []int{-1}}}},
	} {
		if err := WriteSafetensors(&bytes.Buffer{}, Safetensors{Tensors: tc.ts}); err == nil {
			t.Errorf("%s: written", tc.name)
		}
	}
}

// FuzzReadSafetensors: reading arbitrary bytes never panics, and whatever
// reads back writes and reads again to the same tensors and metadata.
func FuzzReadSafetensors(f *testing.F) {
	good := encodeSafetensors(f, sampleSafetensors())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"k":"v"}}  `, []byte{1, 2, 3, 4}))
	f.Add(withHeader(`{}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadSafetensors(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteSafetensors(&buf, *s); err != nil {
			t.Fatalf("re-write: %v", err)
		}
		again, err := ReadSafetensors(&buf)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !sameTensors(again.Tensors, s.Tensors) || !mapsEqual(again.Metadata, s.Metadata) {
			t.Fatalf("re-read differs")
		}
	})
}
