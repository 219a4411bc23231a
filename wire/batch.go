package wire

import (
	"github.com/fsl-project/fsl/params"
)

// colourFlag, set in a batch's kind byte, says a channel-count byte
// follows the size. A grayscale batch (Channels 0 or 1) goes without it,
// so its bytes are those of protocol 5 before colour existed; kinds are
// small numbers, so the flag cannot collide with one.
const colourFlag = 0x80

func batchSizeHint(b *params.Batch) int {
	return 64 + len(b.Pixels) + 4*len(b.Labels) + len(b.Same)
}

// encodeBatch writes the batch as-is: a channel count other than 0 or 1
// behind colourFlag. Whether the batch fits a model is the model's to
// check; a decoder refuses only a bad shape (params.Batch.CheckShape).
func encodeBatch(e *encoder, b *params.Batch) {
	colour := b.Channels > params.Gray
	if colour {
		e.U8(uint8(b.Kind) | colourFlag)
	} else {
		e.U8(uint8(b.Kind))
	}
	e.Int(b.Size)
	if colour {
		e.U8(uint8(b.Channels))
	}
	e.bytes("batch.pixels", b.Pixels)
	e.i32s("batch.labels", b.Labels)
	e.Int(b.Way)
	e.Int(b.Shot)
	e.Int(b.Query)
	e.bytes("batch.same", b.Same)
}

func decodeBatch(d *decoder, b *params.Batch) {
	k := d.U8("batch.kind")
	b.Kind = params.Kind(k &^ colourFlag)
	b.Size = d.Int("batch.size")
	if k&colourFlag != 0 {
		// only a colour count may be flagged: 0 or 1 would re-encode
		// without the flag, and the encoding is canonical
		if b.Channels = int(d.U8("batch.channels")); b.Channels <= params.Gray {
			d.Failf("batch.channels", "%d behind the colour flag, want %d", b.Channels, params.RGB)
			return
		}
	}
	b.Pixels = d.bytes("batch.pixels")
	b.Labels = d.i32s("batch.labels")
	b.Way = d.Int("batch.way")
	b.Shot = d.Int("batch.shot")
	b.Query = d.Int("batch.query")
	b.Same = d.bytes("batch.same")
	if d.Err() == nil {
		if err := b.CheckShape(); err != nil {
			d.Failf("batch", "%v", err)
		}
	}
}
