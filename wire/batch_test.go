package wire

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

// colourBatch is a valid 3-channel batch: two 2×2 images, each its red,
// green and blue planes.
func colourBatch() params.Batch {
	return params.Batch{Kind: params.KindTriplets, Size: 2, Channels: params.RGB,
		Pixels: []uint8{
			255, 255, 255, 255, 0, 0, 0, 0, 10, 20, 30, 40, // image 0: red, green, blue
			0, 0, 0, 0, 1, 2, 3, 4, 250, 251, 252, 253, // image 1
		},
		Labels: []int32{3, 7}}
}

// TestGrayscaleBatchBytesAreThoseBeforeColour: a grayscale lease, with
// Channels 0 or 1, encodes to the body protocol 5 wrote before batches had
// channels (taken from that build); protocol 6 changed only the version
// byte (its padding of float arrays adds nothing to a lease).
func TestGrayscaleBatchBytesAreThoseBeforeColour(t *testing.T) {
	const protocol5 = "0405290000000000000003000000000000002900000000000000000000000000000000c817a80400000001000000000000000104000000000000002000000000ff0102030405060708090a0b0c0d0ec8c9cacb00000000010101010909090902000000000000000100000002000000000000000100000000000000000000000000000000000000ca946b3c"
	b, err := hex.DecodeString(protocol5)
	if err != nil {
		t.Fatal(err)
	}
	b[1] = ProtocolVersion
	before := hex.EncodeToString(reframe(b))
	m := sampleMessages()[3].(*Lease)
	for _, c := range []int{0, params.Gray} {
		m.Batch.Channels = c
		if got := hex.EncodeToString(mustEncode(t, m)); got != before {
			t.Errorf("channels %d: lease encodes to\n%s\nwant\n%s", c, got, before)
		}
	}
	d, err := Decode(mustEncode(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if c := d.(*Lease).Batch.Channels; c != 0 {
		t.Errorf("grayscale batch decodes with Channels %d, want 0", c)
	}
}

func TestColourBatchRoundTrips(t *testing.T) {
	in := &Lease{Step: 3, Timeout: time.Second, Batch: colourBatch()}
	b := mustEncode(t, in)
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("decoded %+v, want %+v", out, in)
	}
	gray := *in
	gray.Batch.Channels = 0
	gray.Batch.Pixels = gray.Batch.Pixels[:8]
	if g := mustEncode(t, &gray); len(b)-len(g) != 1+16 {
		t.Errorf("a colour lease is %d bytes longer than its grayscale twin, want 1 (channels) + 16 (pixels)", len(b)-len(g))
	}
}

// TestDecodeRejectsBadBatchShapes: a batch whose channel count is not one a
// batch may have, or whose pixels do not hold its images, is malformed.
func TestDecodeRejectsBadBatchShapes(t *testing.T) {
	good := mustEncode(t, &Lease{Step: 3, Timeout: time.Second, Batch: colourBatch()})
	// the body after the lease's 48 bytes: kind at 48, size 49..56, channels 57
	const kindAt, channelsAt = 2 + 48, 2 + 48 + 1 + 8
	withByte := func(at int, v byte) []byte {
		b := append([]byte(nil), good...)
		b[at] = v
		return reframe(b)
	}
	short := colourBatch()
	short.Pixels = short.Pixels[:8] // two grayscale images' worth
	grayLong := params.Batch{Kind: params.KindTriplets, Size: 2, Pixels: make([]uint8, 12), Labels: []int32{1, 2}}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"channels 2", withByte(channelsAt, 2), "channels"},
		{"channels 4", withByte(channelsAt, 4), "channels"},
		{"channels 255", withByte(channelsAt, 255), "channels"},
		{"flagged grayscale", withByte(channelsAt, 1), "batch.channels"},
		{"flagged zero", withByte(channelsAt, 0), "batch.channels"},
		{"flag without a channels byte", withByte(kindAt, byte(params.KindTriplets)), ""},
		{"colour pixels for grayscale images", mustEncode(t, &Lease{Batch: short}), "pixel bytes"},
		{"grayscale pixels that are not whole images", mustEncode(t, &Lease{Batch: grayLong}), "pixel bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.frame)
			if !errors.Is(err, ErrMalformed) || m != nil {
				t.Fatalf("Decode = %v, %v; want ErrMalformed", m, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}
