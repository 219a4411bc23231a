package episodes

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"

	"github.com/fsl-project/fsl/params"
)

// Class is one class of a Dataset: its images are the dataset images
// First..First+Count-1, each turned Rotation quarter turns counterclockwise
// when sampled. Rotated copies of a class (Options.Rotations) share the
// images of the unrotated class and differ only in Rotation and Name.
type Class struct {
	// Name is unique within the dataset, e.g. "Latin/character03" or
	// "Latin/character03/rot90".
	Name string
	// Group is the alphabet (Omniglot, glyphs) or other grouping used to hold
	// out whole groups for validation; a class-per-folder tree uses the class
	// name.
	Group string
	// Set is the source's own split: "background" or "evaluation" for
	// Omniglot and glyphs, "train", "val" or "test" for miniImageNet, "" when
	// the source has none.
	Set string
	// Rotation is the number of 90° counterclockwise turns, 0..3.
	Rotation int
	// First is the index of the class's first image; Count the number of its
	// images, which are consecutive.
	First, Count int
}

// Dataset is a set of classes of square grayscale or RGB images, all
// decoded to one size and held in one contiguous slice. A Dataset is
// immutable after it is built and safe for concurrent use.
type Dataset struct {
	// Name says where the dataset came from (a spec or a path).
	Name string
	// Size is the side of every image in pixels.
	Size int
	// Channels is the number of colour planes of every image: 1
	// (grayscale) or 3 (RGB; an image's red, green and blue planes one
	// after another, as params.Batch lays them out).
	Channels int
	// Classes in a deterministic order independent of file-system order:
	// sorted by name (then rotation) for every loader.
	Classes []Class

	pixels  []uint8  // image i is pixels[i*n : (i+1)*n], n = Channels*Size*Size
	sources []string // where image i came from (zip entry, file, generator)
	drawers []int32  // who drew image i; -1 when unknown (each image its own drawer)

	fpOnce sync.Once
	fp     string
}

// NewDataset builds a dataset from decoded pixels of images of channels
// planes (0 means 1) of size×size: image i is pixels[i*b:(i+1)*b] with
// b = channels*size*size, its planes one after another. sources and
// drawers may be nil (then images are named "image N" and each has its own
// unknown drawer). It checks that the classes cover valid, non-empty image
// ranges.
func NewDataset(name string, size, channels int, classes []Class, pixels []uint8, sources []string, drawers []int32) (*Dataset, error) {
	if size <= 0 {
		return nil, fmt.Errorf("dataset %q: image size %d, want > 0", name, size)
	}
	if channels == 0 {
		channels = params.Gray
	}
	if channels != params.Gray && channels != params.RGB {
		return nil, fmt.Errorf("dataset %q: %d channels, want %d (grayscale) or %d (RGB): %w", name, channels, params.Gray, params.RGB, ErrConfig)
	}
	per := channels * size * size
	if len(pixels)%per != 0 {
		return nil, fmt.Errorf("dataset %q: %d pixel bytes is not a whole number of %dx%dx%d images", name, len(pixels), channels, size, size)
	}
	n := len(pixels) / per
	if sources == nil {
		sources = make([]string, n)
		for i := range sources {
			sources[i] = fmt.Sprintf("image %d", i)
		}
	}
	if drawers == nil {
		drawers = make([]int32, n)
		for i := range drawers {
			drawers[i] = -1
		}
	}
	if len(sources) != n || len(drawers) != n {
		return nil, fmt.Errorf("dataset %q: %d images but %d sources and %d drawers", name, n, len(sources), len(drawers))
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("dataset %q: no classes: %w", name, ErrEmpty)
	}
	seen := make(map[string]bool, len(classes))
	for _, c := range classes {
		if c.Count <= 0 || c.First < 0 || c.First+c.Count > n {
			return nil, fmt.Errorf("dataset %q: class %q has images %d..%d outside 0..%d", name, c.Name, c.First, c.First+c.Count-1, n-1)
		}
		if c.Rotation < 0 || c.Rotation > 3 {
			return nil, fmt.Errorf("dataset %q: class %q has rotation %d, want 0..3", name, c.Name, c.Rotation)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("dataset %q: class name %q appears twice", name, c.Name)
		}
		seen[c.Name] = true
	}
	return &Dataset{Name: name, Size: size, Channels: channels, Classes: classes, pixels: pixels, sources: sources, drawers: drawers}, nil
}

// BytesPerImage is the length of one image: Channels·Size·Size.
func (d *Dataset) BytesPerImage() int { return d.Channels * d.Size * d.Size }

// BatchChannels is the params.Batch.Channels of a batch of d's images: 0
// for grayscale (a batch's grayscale spelling, encoded as before colour
// existed), else Channels.
func (d *Dataset) BatchChannels() int {
	if d.Channels == params.Gray {
		return 0
	}
	return d.Channels
}

// NumImages is the number of distinct decoded images (rotated classes share
// images, so this can be less than the sum of class counts).
func (d *Dataset) NumImages() int { return len(d.sources) }

// Image returns the unrotated pixels of image i, all its planes; it
// aliases the dataset and must not be modified.
func (d *Dataset) Image(i int) []uint8 {
	n := d.BytesPerImage()
	return d.pixels[i*n : (i+1)*n : (i+1)*n]
}

// Source says where image i came from, e.g. "images_background.zip:
// images_background/Latin/character01/0417_01.png".
func (d *Dataset) Source(i int) string { return d.sources[i] }

// Drawer returns who drew image i, or -1 when unknown; images with unknown
// drawers count as drawn by different people.
func (d *Dataset) Drawer(i int) int { return int(d.drawers[i]) }

// ClassImage writes image k (0 <= k < Count) of class c, every plane
// rotated as the class says, into dst, which must hold BytesPerImage
// bytes.
func (d *Dataset) ClassImage(c, k int, dst []uint8) {
	cl := &d.Classes[c]
	src, hw := d.Image(cl.First+k), d.Size*d.Size
	for p := 0; p < d.Channels; p++ {
		rotate(dst[p*hw:(p+1)*hw], src[p*hw:(p+1)*hw], d.Size, cl.Rotation)
	}
}

// Groups returns the distinct class groups, sorted.
func (d *Dataset) Groups() []string {
	set := map[string]bool{}
	for _, c := range d.Classes {
		set[c.Group] = true
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// MinImagesPerClass is the smallest class's image count (0 if no classes).
func (d *Dataset) MinImagesPerClass() int {
	m := 0
	for i, c := range d.Classes {
		if i == 0 || c.Count < m {
			m = c.Count
		}
	}
	return m
}

// Fingerprint is the hex sha256 of the dataset's content: image size (and
// channels when not grayscale, so a grayscale dataset's fingerprint is the
// one it had before colour existed), and per class in order its name,
// group, set, rotation and the decoded pixels
// of its images (a class's index is its label). It does not depend on file
// names, archive order or directory listing order, only on what a sampler
// can see. Computed once and cached.
func (d *Dataset) Fingerprint() string {
	d.fpOnce.Do(func() {
		h := sha256.New()
		var buf [8]byte
		putInt := func(v int) {
			binary.LittleEndian.PutUint64(buf[:], uint64(v))
			h.Write(buf[:])
		}
		putStr := func(s string) {
			putInt(len(s))
			h.Write([]byte(s))
		}
		putStr("fsl-episodes-dataset-v1")
		putInt(d.Size)
		if d.Channels != params.Gray {
			putStr("channels")
			putInt(d.Channels)
		}
		putInt(len(d.Classes))
		for _, c := range d.Classes {
			putStr(c.Name)
			putStr(c.Group)
			putStr(c.Set)
			putInt(c.Rotation)
			putInt(c.Count)
			n := d.BytesPerImage()
			h.Write(d.pixels[c.First*n : (c.First+c.Count)*n])
		}
		d.fp = hex.EncodeToString(h.Sum(nil))
	})
	return d.fp
}

// subset returns a dataset sharing d's images with only the given classes,
// in the given order.
func (d *Dataset) subset(name string, classes []Class) *Dataset {
	return &Dataset{Name: name, Size: d.Size, Channels: d.Channels, Classes: classes, pixels: d.pixels, sources: d.sources, drawers: d.drawers}
}

// rotate writes src turned q quarter turns counterclockwise into dst; both
// are size×size row-major.
func rotate(dst, src []uint8, size, q int) {
	switch q & 3 {
	case 0:
		copy(dst, src)
	case 1: // (x, y) -> (y, size-1-x)
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				dst[(size-1-x)*size+y] = src[y*size+x]
			}
		}
	case 2:
		n := size * size
		for i := 0; i < n; i++ {
			dst[n-1-i] = src[i]
		}
	case 3:
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				dst[x*size+(size-1-y)] = src[y*size+x]
			}
		}
	}
}
