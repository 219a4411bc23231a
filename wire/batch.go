package wire

import "github.com/fsl-project/fsl/params"

func batchSizeHint(b *params.Batch) int {
	return 64 + len(b.Pixels) + 4*len(b.Labels) + len(b.Same)
}

// encodeBatch writes the batch as-is; consistency between Pixels, Labels
// and Size is the model's to check, the wire only carries bytes faithfully.
func encodeBatch(e *encoder, b *params.Batch) {
	e.U8(uint8(b.Kind))
	e.Int(b.Size)
	e.bytes("batch.pixels", b.Pixels)
	e.i32s("batch.labels", b.Labels)
	e.Int(b.Way)
	e.Int(b.Shot)
	e.Int(b.Query)
	e.bytes("batch.same", b.Same)
}

func decodeBatch(d *decoder, b *params.Batch) {
	b.Kind = params.Kind(d.U8("batch.kind"))
	b.Size = d.Int("batch.size")
	b.Pixels = d.bytes("batch.pixels")
	b.Labels = d.i32s("batch.labels")
	b.Way = d.Int("batch.way")
	b.Shot = d.Int("batch.shot")
	b.Query = d.Int("batch.query")
	b.Same = d.bytes("batch.same")
}
