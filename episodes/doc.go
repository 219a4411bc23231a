// Package episodes owns the few-shot datasets and the samplers that cut them
// into training batches.
//
// It loads Omniglot (from its zips or extracted folders), class-per-folder
// image trees (PNG and JPEG), the miniImageNet CSV layout of Ravi & Larochelle
// and a synthetic "glyphs" dataset generated from a seed; it decodes every
// image once to grayscale, or (Options.Channels 3: image trees,
// miniImageNet, the glyphs drawn in colour) to red, green and blue planes,
// uint8 of one square size, held in one contiguous slice; it derives class splits (Omniglot background/evaluation, validation
// by whole alphabets, the Vinyals 1200-character split, 90° rotations as new
// classes); and it samples N-way K-shot episodes, balanced Siamese pairs and
// triplets. A batch is a pure function of (seed, step, shard) and the dataset:
// any machine, goroutine or Go version rebuilds the same bytes.
//
// It also downloads the official Omniglot zips (Fetch) with checksums, atomic
// rename and resume.
//
// episodes imports only the standard library and golang.org/x/image. It must
// never import NATS, bbolt, Gorgonia, or any other fsl package.
package episodes
