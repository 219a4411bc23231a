package checkpoints

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/fsl-project/fsl/params"
)

// A safetensors file (https://github.com/huggingface/safetensors) is, all
// integers little-endian:
//
//	header length N u64 | N bytes of JSON header | data
//
// The header is one JSON object: per tensor name {"dtype", "shape",
// "data_offsets": [begin, end]} (byte offsets into data), and an optional
// "__metadata__" object of string values. fsl writes and reads F32 tensors
// only. WriteSafetensors lays the tensors' data out contiguously in the
// order given, names them in that order in the header, and pads the header
// with spaces (which the format allows) so the data starts 8-byte aligned.
const (
	// SafetensorsMetadataKey is the header key of the metadata map.
	SafetensorsMetadataKey = "__metadata__"
	// safetensorsMaxHeader is the reference implementation's bound on the
	// header, so a file it refuses is refused here too.
	safetensorsMaxHeader = 100 << 20
	// safetensorsAlign is the alignment of the data after the header.
	safetensorsAlign = 8
	// safetensorsMaxData bounds the data an import reads: 2^30 float32
	// values per vector (params.MaxLen), for parameters and state.
	safetensorsMaxData = 2 * 4 * params.MaxLen
)

// Tensor is one named float32 tensor: Shape's product values, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Safetensors is the content of a safetensors file: its tensors (in the
// order of their data) and the string map under "__metadata__".
type Safetensors struct {
	Metadata map[string]string
	Tensors  []Tensor
}

// LayoutTensors returns v's entries as tensors named and shaped as in l,
// sharing v's memory. v must have l's size.
func LayoutTensors(l params.Layout, v params.Vector) ([]Tensor, error) {
	if len(v) != l.Size() {
		return nil, fmt.Errorf("vector of %d values for a layout of %d", len(v), l.Size())
	}
	ts := make([]Tensor, len(l.Entries))
	for i, e := range l.Entries {
		end := e.Offset + e.Size()
		ts[i] = Tensor{Name: e.Name, Shape: e.Shape, Data: v[e.Offset:end:end]}
	}
	return ts, nil
}

// Vectors gathers the tensors into one vector per layout: every entry of
// every layout must be present with its exact shape, and every tensor must
// be named by some layout. The values are copied bit for bit.
func (s *Safetensors) Vectors(layouts ...params.Layout) ([]params.Vector, error) {
	byName := make(map[string]*Tensor, len(s.Tensors))
	for i := range s.Tensors {
		byName[s.Tensors[i].Name] = &s.Tensors[i]
	}
	used := make(map[string]bool, len(s.Tensors))
	out := make([]params.Vector, len(layouts))
	for li, l := range layouts {
		v := make(params.Vector, l.Size())
		for _, e := range l.Entries {
			t, ok := byName[e.Name]
			if !ok {
				return nil, fmt.Errorf("tensor %q is missing", e.Name)
			}
			if !slices.Equal(t.Shape, e.Shape) {
				return nil, fmt.Errorf("tensor %q has shape %v, want %v", e.Name, t.Shape, e.Shape)
			}
			copy(v[e.Offset:e.Offset+e.Size()], t.Data)
			used[e.Name] = true
		}
		out[li] = v
	}
	for _, t := range s.Tensors {
		if !used[t.Name] {
			return nil, fmt.Errorf("tensor %q is not part of the model", t.Name)
		}
	}
	return out, nil
}

type safetensorsEntry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// WriteSafetensors writes s to w in the safetensors format, dtype F32.
// Tensor names must be unique, non-empty and not "__metadata__"; each
// tensor's data must have its shape's product of values.
func WriteSafetensors(w io.Writer, s Safetensors) error {
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	if len(s.Metadata) > 0 {
		keys := make([]string, 0, len(s.Metadata))
		for k := range s.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hdr.WriteString(`"` + SafetensorsMetadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, s.Metadata[k])
		}
		hdr.WriteByte('}')
	}
	seen := make(map[string]bool, len(s.Tensors))
	var off uint64
	for i, t := range s.Tensors {
		if t.Name == "" || t.Name == SafetensorsMetadataKey || seen[t.Name] {
			return fmt.Errorf("safetensors: tensor %d: name %q is empty, reserved or repeated", i, t.Name)
		}
		seen[t.Name] = true
		n, err := shapeValues(t.Shape)
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		if n != uint64(len(t.Data)) {
			return fmt.Errorf("safetensors: tensor %q: shape %v holds %d values, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if len(s.Metadata) > 0 || i > 0 {
			hdr.WriteByte(',')
		}
		writeJSONString(&hdr, t.Name)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		b, err := json.Marshal(safetensorsEntry{Dtype: "F32", Shape: shape, DataOffsets: []uint64{off, off + 4*n}})
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		hdr.WriteByte(':')
		hdr.Write(b)
		off += 4 * n
	}
	hdr.WriteByte('}')
	for (8+hdr.Len())%safetensorsAlign != 0 {
		hdr.WriteByte(' ')
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(hdr.Len()))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	var buf [4096]byte
	for _, t := range s.Tensors {
		for v := t.Data; len(v) > 0; {
			k := min(len(v), len(buf)/4)
			for i, x := range v[:k] {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
			}
			if _, err := w.Write(buf[:4*k]); err != nil {
				return err
			}
			v = v[k:]
		}
	}
	return nil
}

// writeJSONString writes s as a JSON string; json.Marshal of a string
// cannot fail.
func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// shapeValues is the product of shape (1 for a scalar), or an error for a
// negative dimension or more values than an import would read.
func shapeValues(shape []int) (uint64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > safetensorsMaxData/4/uint64(d) {
			return 0, fmt.Errorf("shape %v holds more than %d values", shape, safetensorsMaxData/4)
		}
		n *= uint64(d)
	}
	return n, nil
}

// WriteSafetensorsFile writes s to path atomically: a temporary file beside
// it is written, synced and renamed over path.
func WriteSafetensorsFile(path string, s Safetensors) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := WriteSafetensors(f, s); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}

// ReadSafetensorsFile reads the safetensors file at path (ReadSafetensors).
func ReadSafetensorsFile(path string) (*Safetensors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := ReadSafetensors(f)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return s, nil
}

// ReadSafetensors reads and checks one safetensors file: the header is a
// JSON object with unique keys followed only by spaces, every tensor is
// F32 with data_offsets matching its shape, the tensors' data are
// contiguous from 0 and end exactly where r ends. Tensors come back in the
// order of their data. Errors wrap ErrCorrupt. Allocations stay within a
// small multiple of the bytes actually read.
func ReadSafetensors(r io.Reader) (*Safetensors, error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, safetensorsReadError("reading the header length", err)
	}
	hlen := binary.LittleEndian.Uint64(n[:])
	if hlen < 2 || hlen > safetensorsMaxHeader {
		return nil, corrupt("safetensors header of %d bytes, want 2..%d", hlen, safetensorsMaxHeader)
	}
	hdr, err := readN(r, hlen)
	if err != nil {
		return nil, safetensorsReadError("reading the header", err)
	}
	s, total, err := parseSafetensorsHeader(hdr)
	if err != nil {
		return nil, err
	}
	data, err := readN(r, total)
	if err != nil {
		return nil, safetensorsReadError("reading the tensor data", err)
	}
	var extra [1]byte
	if m, _ := io.ReadFull(r, extra[:]); m != 0 {
		return nil, corrupt("safetensors: bytes follow the last tensor's data (offset %d)", total)
	}
	var off uint64
	for i := range s.Tensors {
		t := &s.Tensors[i]
		n, _ := shapeValues(t.Shape) // checked by parseSafetensorsHeader
		t.Data = make([]float32, n)
		for j := range t.Data {
			t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
			off += 4
		}
	}
	return s, nil
}

// parseSafetensorsHeader checks the header and returns the tensors without
// their Data (allocated once the data has been read, so a lying header
// cannot force a large allocation) and the total data length.
func parseSafetensorsHeader(hdr []byte) (*Safetensors, uint64, error) {
	if hdr[0] != '{' {
		return nil, 0, corrupt("safetensors header starts with %q, want '{'", hdr[0])
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil {
		return nil, 0, corrupt("safetensors header: %v", err)
	}
	s := &Safetensors{}
	type placed struct {
		name  string
		shape []int
		begin uint64
		end   uint64
	}
	var ts []placed
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, corrupt("safetensors header: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, 0, corrupt("safetensors header: key %v is not a string", tok)
		}
		if seen[name] {
			return nil, 0, corrupt("safetensors header: key %q appears twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, corrupt("safetensors header: value of %q: %v", name, err)
		}
		if name == SafetensorsMetadataKey {
			if err := json.Unmarshal(raw, &s.Metadata); err != nil || s.Metadata == nil {
				return nil, 0, corrupt("safetensors header: %s is not an object of strings", SafetensorsMetadataKey)
			}
			continue
		}
		if name == "" {
			return nil, 0, corrupt("safetensors header: a tensor has an empty name")
		}
		var e safetensorsEntry
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, 0, corrupt("safetensors tensor %q: %v", name, err)
		}
		if e.Dtype != "F32" {
			return nil, 0, corrupt("safetensors tensor %q: dtype %q, fsl reads F32 only", name, e.Dtype)
		}
		if e.Shape == nil || len(e.DataOffsets) != 2 {
			return nil, 0, corrupt("safetensors tensor %q: want shape and two data_offsets", name)
		}
		values, err := shapeValues(e.Shape)
		if err != nil {
			return nil, 0, corrupt("safetensors tensor %q: %v", name, err)
		}
		b, end := e.DataOffsets[0], e.DataOffsets[1]
		if b > end || end-b != 4*values {
			return nil, 0, corrupt("safetensors tensor %q: data_offsets [%d, %d] for shape %v (%d bytes of F32)",
				name, b, end, e.Shape, 4*values)
		}
		ts = append(ts, placed{name, e.Shape, b, end})
	}
	if _, err := dec.Token(); err != nil {
		return nil, 0, corrupt("safetensors header: %v", err)
	}
	for _, c := range hdr[dec.InputOffset():] {
		if c != ' ' {
			return nil, 0, corrupt("safetensors header: %q after the JSON object (only spaces may pad it)", c)
		}
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].begin < ts[j].begin })
	var total uint64
	for _, t := range ts {
		if t.begin != total {
			return nil, 0, corrupt("safetensors tensor %q: data starts at %d, want %d (data must be contiguous)", t.name, t.begin, total)
		}
		total = t.end
		if total > safetensorsMaxData {
			return nil, 0, corrupt("safetensors data of more than %d bytes", uint64(safetensorsMaxData))
		}
	}
	s.Tensors = make([]Tensor, len(ts))
	for i, t := range ts {
		s.Tensors[i] = Tensor{Name: t.name, Shape: t.shape}
	}
	return s, total, nil
}

func safetensorsReadError(doing string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("safetensors file is truncated (%s)", doing)
	}
	return fmt.Errorf("read safetensors: %s: %w", doing, err)
}
