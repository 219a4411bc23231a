package wire

// Batch is one shard's training input as the wire carries it. It mirrors
// episodes.Batch and model.Batch field for field (wire imports neither); the
// coordinator and the worker convert. Kind values are those of
// episodes.Kind: 1 episode, 2 pairs, 3 triplets.
type Batch struct {
	Kind uint8
	// Size is the side of every (square) image in pixels.
	Size int
	// Pixels holds len(Labels) images of Size*Size bytes each, row-major.
	Pixels []uint8
	// Labels holds, per image, its class.
	Labels []int32
	// Way, Shot and Query describe an episode; zero for other kinds.
	Way, Shot, Query int
	// Same holds, for pairs, one entry per pair: 1 same class, 0 different.
	Same []uint8
}

func (b *Batch) sizeHint() int { return 64 + len(b.Pixels) + 4*len(b.Labels) + len(b.Same) }

// encode writes the batch as-is; consistency between Pixels, Labels and
// Size is the model's to check, the wire only carries bytes faithfully.
func (b *Batch) encode(e *encoder) {
	e.u8(b.Kind)
	e.int(b.Size)
	e.bytes("batch.pixels", b.Pixels)
	e.i32s("batch.labels", b.Labels)
	e.int(b.Way)
	e.int(b.Shot)
	e.int(b.Query)
	e.bytes("batch.same", b.Same)
}

func (b *Batch) decode(d *decoder) {
	b.Kind = d.u8("batch.kind")
	b.Size = d.int("batch.size")
	b.Pixels = d.bytes("batch.pixels")
	b.Labels = d.i32s("batch.labels")
	b.Way = d.int("batch.way")
	b.Shot = d.int("batch.shot")
	b.Query = d.int("batch.query")
	b.Same = d.bytes("batch.same")
}
