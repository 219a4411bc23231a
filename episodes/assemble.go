package episodes

import (
	"fmt"
	"sort"
)

// item is one image a loader found, before decoding.
type item struct {
	class  string // class name, unique in the dataset
	group  string
	set    string
	source string // where it came from, for error messages and Dataset.Source
	drawer int32  // -1 when unknown
	read   func() ([]byte, error)
}

// assemble sorts items by (class, source) so that the result does not depend
// on archive or directory order, decodes them in parallel (to channels
// planes each: 1 grayscale, 3 RGB) into one contiguous slice, and builds
// the dataset.
func assemble(name string, size, channels int, invert bool, items []item) (*Dataset, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("dataset %q: no images: %w", name, ErrEmpty)
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].class != items[j].class {
			return items[i].class < items[j].class
		}
		return items[i].source < items[j].source
	})
	n := channels * size * size
	pixels := make([]uint8, len(items)*n)
	err := parallel(len(items), func(sc *scalerCache, i int) error {
		data, err := items[i].read()
		if err != nil {
			return fmt.Errorf("read %s: %w", items[i].source, err)
		}
		img, err := decodeImage(data, size, channels, invert, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", items[i].source, err)
		}
		copy(pixels[i*n:], img)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", name, err)
	}
	sources := make([]string, len(items))
	drawers := make([]int32, len(items))
	var classes []Class
	for i, it := range items {
		sources[i], drawers[i] = it.source, it.drawer
		if len(classes) == 0 || classes[len(classes)-1].Name != it.class {
			classes = append(classes, Class{Name: it.class, Group: it.group, Set: it.set, First: i})
		}
		classes[len(classes)-1].Count++
	}
	return NewDataset(name, size, channels, classes, pixels, sources, drawers)
}
