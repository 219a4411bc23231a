package checkpoints

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/fsl-project/fsl/params"
)

// A stored checkpoint value, all integers little-endian:
//
//	"FSCK" | version u16 | flags u16 (0) | headerLen u32
//	header (headerLen bytes):
//	    step u64 | created i64 (Unix ns) | params SHA-256 [32]
//	    nParams u64 | nState u64 | optimizer kind str | optimizer step u64
//	    nScalars u32 {name str, value f64 bits}   names sorted, unique
//	    nVectors u32 {name str, length u64}       names unique, order kept
//	    nMetrics u32 {name str, value f64 bits}   names sorted, unique
//	header CRC-32C u32 over every byte before it
//	body: params, state, then each optimizer vector, as f32 bits
//	CRC-32C u32 over every byte before it
//
// where str is a u16 length and that many UTF-8 bytes. The encoding is
// canonical: decode then encode gives the same bytes. The header has its own
// CRC so List can trust it without decoding the body; the trailing CRC covers
// the whole value, so any single flipped byte is caught on load.
const (
	valueMagic   = "FSCK"
	valueVersion = 1
	prefixLen    = 12
	crcLen       = 4
	// maxValueBytes is bbolt's largest value.
	maxValueBytes = (1 << 31) - 2
	maxNameLen    = 1024
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Times outside these bounds do not fit in int64 Unix nanoseconds.
var (
	minCreated = time.Unix(0, math.MinInt64)
	maxCreated = time.Unix(0, math.MaxInt64)
)

type namedValue struct {
	name  string
	value float64
}

type vectorHeader struct {
	name string
	n    uint64
}

// header is the decoded header of a stored value.
type header struct {
	step      uint64
	created   int64
	paramsSHA [32]byte
	nParams   uint64
	nState    uint64
	optKind   string
	optStep   uint64
	scalars   []namedValue
	vectors   []vectorHeader
	metrics   []namedValue
}

func sortedValues(m map[string]float64) []namedValue {
	out := make([]namedValue, 0, len(m))
	for k, v := range m {
		out = append(out, namedValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name is empty", what)
	case len(name) > maxNameLen:
		return fmt.Errorf("%s name %.20q... is %d bytes, limit %d", what, name, len(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s name %q is not valid UTF-8", what, name)
	}
	return nil
}

// encodeCheckpoint returns c's stored value. c.Created must be set.
func encodeCheckpoint(c *Checkpoint) ([]byte, error) {
	if c.Created.IsZero() {
		return nil, errors.New("encode checkpoint: Created is zero")
	}
	if c.Created.Before(minCreated) || c.Created.After(maxCreated) {
		return nil, fmt.Errorf("encode checkpoint: Created %v is outside the years 1678-2262", c.Created)
	}
	if len(c.Optimizer.Kind) > maxNameLen || !utf8.ValidString(c.Optimizer.Kind) {
		return nil, fmt.Errorf("encode checkpoint: optimizer kind %.20q is not UTF-8 of at most %d bytes", c.Optimizer.Kind, maxNameLen)
	}
	metrics := sortedValues(c.Metrics)
	scalars := sortedValues(c.Optimizer.Scalars)
	for _, m := range metrics {
		if err := checkName("metric", m.name); err != nil {
			return nil, fmt.Errorf("encode checkpoint: %w", err)
		}
	}
	for _, s := range scalars {
		if err := checkName("optimizer scalar", s.name); err != nil {
			return nil, fmt.Errorf("encode checkpoint: %w", err)
		}
	}
	seen := make(map[string]bool, len(c.Optimizer.Vectors))
	for _, v := range c.Optimizer.Vectors {
		if err := checkName("optimizer vector", v.Name); err != nil {
			return nil, fmt.Errorf("encode checkpoint: %w", err)
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("encode checkpoint: optimizer vector %q appears twice", v.Name)
		}
		seen[v.Name] = true
	}

	headerLen := 8 + 8 + 32 + 8 + 8 + 2 + len(c.Optimizer.Kind) + 8 + 4 + 4 + 4
	for _, s := range scalars {
		headerLen += 2 + len(s.name) + 8
	}
	for _, v := range c.Optimizer.Vectors {
		headerLen += 2 + len(v.Name) + 8
	}
	for _, m := range metrics {
		headerLen += 2 + len(m.name) + 8
	}
	floats := len(c.Params) + len(c.State)
	for _, v := range c.Optimizer.Vectors {
		floats += len(v.Values)
	}
	bodyOff := prefixLen + headerLen + crcLen
	if floats > (maxValueBytes-bodyOff-crcLen)/4 {
		return nil, fmt.Errorf("encode checkpoint: %d float32 values do not fit in one bbolt value (limit %d bytes)", floats, maxValueBytes)
	}
	total := bodyOff + 4*floats + crcLen

	w := params.NewEncoder(make([]byte, 0, total))
	w.Raw([]byte(valueMagic))
	w.U16(valueVersion)
	w.U16(0)
	w.U32(uint32(headerLen))
	w.U64(c.Step)
	w.U64(uint64(c.Created.UnixNano()))
	shaAt := len(w.Bytes())
	w.Raw(make([]byte, sha256.Size)) // filled in once the parameters are written
	w.U64(uint64(len(c.Params)))
	w.U64(uint64(len(c.State)))
	writeName(w, c.Optimizer.Kind)
	w.U64(c.Optimizer.Step)
	writeValues(w, scalars)
	w.U32(uint32(len(c.Optimizer.Vectors)))
	for _, v := range c.Optimizer.Vectors {
		writeName(w, v.Name)
		w.U64(uint64(len(v.Values)))
	}
	writeValues(w, metrics)
	w.U32(0) // the header CRC, which covers the hash

	w.Float32s(c.Params)
	b := w.Bytes()
	sum := sha256.Sum256(b[bodyOff:])
	copy(b[shaAt:], sum[:])
	binary.LittleEndian.PutUint32(b[bodyOff-crcLen:], crc32.Checksum(b[:bodyOff-crcLen], castagnoli))
	w.Float32s(c.State)
	for _, v := range c.Optimizer.Vectors {
		w.Float32s(v.Values)
	}
	w.U32(crc32.Checksum(w.Bytes(), castagnoli))
	if b := w.Bytes(); len(b) != total {
		return nil, fmt.Errorf("encode checkpoint: wrote %d bytes, planned %d", len(b), total)
	}
	return w.Bytes(), nil
}

// writeName writes a u16 length and the name's bytes (checked by the
// caller: UTF-8, at most maxNameLen).
func writeName(w *params.Encoder, name string) {
	w.U16(uint16(len(name)))
	w.Raw([]byte(name))
}

func writeValues(w *params.Encoder, vs []namedValue) {
	w.U32(uint32(len(vs)))
	for _, v := range vs {
		writeName(w, v.name)
		w.F64(v.value)
	}
}

// corrupt returns an error wrapping ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// verifyValue checks the trailing CRC over the whole value.
func verifyValue(b []byte) error {
	if len(b) < prefixLen+2*crcLen {
		return corrupt("value is %d bytes, shorter than any checkpoint", len(b))
	}
	n := len(b) - crcLen
	if got, want := crc32.Checksum(b[:n], castagnoli), binary.LittleEndian.Uint32(b[n:]); got != want {
		return corrupt("value checksum is %08x, recorded %08x", got, want)
	}
	return nil
}

// decodeHeader checks the prefix and the header CRC and parses the header.
// It returns the offset of the body. It does not check the trailing CRC.
func decodeHeader(b []byte) (header, int, error) {
	var h header
	if len(b) < prefixLen+2*crcLen {
		return h, 0, corrupt("value is %d bytes, shorter than any checkpoint", len(b))
	}
	if !bytes.Equal(b[:4], []byte(valueMagic)) {
		return h, 0, corrupt("value starts with %q, want %q", b[:4], valueMagic)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != valueVersion {
		if v > valueVersion {
			return h, 0, fmt.Errorf("%w: checkpoint value version %d, this build reads %d", ErrNewerFormat, v, valueVersion)
		}
		return h, 0, corrupt("checkpoint value version %d is unknown", v)
	}
	if f := binary.LittleEndian.Uint16(b[6:]); f != 0 {
		return h, 0, corrupt("checkpoint flags %#x are unknown", f)
	}
	headerLen := uint64(binary.LittleEndian.Uint32(b[8:]))
	if headerLen > uint64(len(b)-prefixLen-2*crcLen) {
		return h, 0, corrupt("header length %d overruns the %d-byte value", headerLen, len(b))
	}
	bodyOff := prefixLen + int(headerLen) + crcLen
	if got, want := crc32.Checksum(b[:bodyOff-crcLen], castagnoli), binary.LittleEndian.Uint32(b[bodyOff-crcLen:]); got != want {
		return h, 0, corrupt("header checksum is %08x, recorded %08x", got, want)
	}
	r := params.NewDecoder(b[prefixLen : bodyOff-crcLen])
	h.step = r.U64("step")
	h.created = int64(r.U64("created"))
	copy(h.paramsSHA[:], r.Take("params sha256", sha256.Size))
	h.nParams = r.U64("params length")
	h.nState = r.U64("state length")
	h.optKind = readName(r, "optimizer kind", true)
	h.optStep = r.U64("optimizer step")
	h.scalars = readValues(r, "optimizer scalar")
	if n := r.Len32("optimizer vectors", 2+1+8); r.Err() == nil {
		h.vectors = make([]vectorHeader, 0, n)
		seen := make(map[string]bool, n)
		for range n {
			name := readName(r, "optimizer vector", false)
			length := r.U64("optimizer vector length")
			if r.Err() != nil {
				break
			}
			if seen[name] {
				r.Failf("optimizer vector", "%q appears twice", name)
				break
			}
			seen[name] = true
			h.vectors = append(h.vectors, vectorHeader{name, length})
		}
	}
	h.metrics = readValues(r, "metric")
	if r.Err() == nil && r.Remaining() != 0 {
		r.Failf("header", "%d bytes left over", r.Remaining())
	}
	if err := r.Err(); err != nil {
		return h, 0, corrupt("header: %v", err)
	}

	// The body must hold exactly the vectors the header announces.
	bodyFloats := uint64(len(b)-bodyOff-crcLen) / 4
	if uint64(len(b)-bodyOff-crcLen)%4 != 0 {
		return h, 0, corrupt("body of %d bytes is not whole float32 values", len(b)-bodyOff-crcLen)
	}
	sum := uint64(0)
	for _, n := range append([]uint64{h.nParams, h.nState}, vectorLengths(h.vectors)...) {
		if n > bodyFloats-sum {
			return h, 0, corrupt("header announces more values than the %d in the body", bodyFloats)
		}
		sum += n
	}
	if sum != bodyFloats {
		return h, 0, corrupt("header announces %d values, body holds %d", sum, bodyFloats)
	}
	return h, bodyOff, nil
}

func vectorLengths(vs []vectorHeader) []uint64 {
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = v.n
	}
	return out
}

// decodeCheckpoint verifies a stored value completely (both CRCs and the
// parameters' SHA-256) and returns a copy of its contents.
func decodeCheckpoint(b []byte) (*Checkpoint, error) {
	if err := verifyValue(b); err != nil {
		return nil, err
	}
	h, off, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	paramBytes := b[off : off+4*int(h.nParams)]
	if sha256.Sum256(paramBytes) != h.paramsSHA {
		return nil, corrupt("parameters do not match their recorded SHA-256")
	}
	c := &Checkpoint{
		Step:    h.step,
		Created: time.Unix(0, h.created).UTC(),
		Metrics: valueMap(h.metrics),
		Optimizer: OptimizerState{
			Kind:    h.optKind,
			Step:    h.optStep,
			Scalars: valueMap(h.scalars),
		},
	}
	// decodeHeader checked that the body holds exactly these values.
	body := params.NewDecoder(b[off:])
	c.Params = body.Float32s("params", int(h.nParams))
	c.State = body.Float32s("state", int(h.nState))
	if len(h.vectors) > 0 {
		c.Optimizer.Vectors = make([]NamedVector, len(h.vectors))
		for i, v := range h.vectors {
			c.Optimizer.Vectors[i].Name = v.name
			c.Optimizer.Vectors[i].Values = body.Float32s(v.name, int(v.n))
		}
	}
	if err := body.Err(); err != nil {
		return nil, corrupt("body: %v", err)
	}
	return c, nil
}

// infoOf describes a stored value; Err is set when it does not verify. The
// whole-value CRC is checked first, so damage anywhere reads as ErrCorrupt;
// the header fields are still filled in when the header's own CRC holds.
func infoOf(step uint64, b []byte) Info {
	info := Info{Step: step, Bytes: len(b), Err: verifyValue(b)}
	h, _, err := decodeHeader(b)
	if err != nil {
		if info.Err == nil {
			info.Err = err
		}
		return info
	}
	info.Created = time.Unix(0, h.created).UTC()
	info.Metrics = valueMap(h.metrics)
	info.ParamCount = int(h.nParams)
	info.StateCount = int(h.nState)
	for _, v := range h.vectors {
		info.OptimizerCount += int(v.n)
	}
	info.ParamsSHA256 = h.paramsSHA
	if info.Err == nil && h.step != step {
		info.Err = corrupt("value holds step %d under key %d", h.step, step)
	}
	return info
}

func valueMap(vs []namedValue) map[string]float64 {
	if len(vs) == 0 {
		return nil
	}
	m := make(map[string]float64, len(vs))
	for _, v := range vs {
		m[v.name] = v.value
	}
	return m
}

// readName reads what writeName wrote and checks it: UTF-8, at most
// maxNameLen bytes, and not empty unless emptyOK.
func readName(r *params.Decoder, field string, emptyOK bool) string {
	n := int(r.U16(field))
	p := r.Take(field, n)
	switch {
	case r.Err() != nil:
		return ""
	case n == 0 && !emptyOK:
		r.Failf(field, "empty name")
	case n > maxNameLen:
		r.Failf(field, "name of %d bytes, limit %d", n, maxNameLen)
	case !utf8.Valid(p):
		r.Failf(field, "name %q is not valid UTF-8", p)
	}
	return string(p)
}

// readValues reads what writeValues wrote; names must be sorted and unique.
func readValues(r *params.Decoder, what string) []namedValue {
	n := r.Len32(what+"s", 2+1+8)
	if r.Err() != nil || n == 0 {
		return nil
	}
	out := make([]namedValue, 0, n)
	for range n {
		name := readName(r, what, false)
		v := r.F64(what)
		if r.Err() != nil {
			return nil
		}
		if len(out) > 0 && out[len(out)-1].name >= name {
			r.Failf(what, "names are not sorted and unique at %q", name)
			return nil
		}
		out = append(out, namedValue{name, v})
	}
	return out
}
