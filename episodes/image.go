package episodes

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// DecodeImage decodes one PNG or JPEG exactly as the dataset loaders do:
// 8-bit grayscale, inverted when invert is set (Omniglot's black strokes on
// white become 255 on 0), and resized to size×size with the loaders'
// filter, so images from outside a Dataset (Omniglot's official runs) match
// the ones a model was trained on bit for bit. The result is a fresh slice
// of size*size bytes. Errors wrap ErrFormat (undecodable, or a side over
// 4096 pixels) or ErrConfig (size outside 1..4096).
func DecodeImage(data []byte, size int, invert bool) ([]uint8, error) {
	if size < 1 || size > maxImageSide {
		return nil, fmt.Errorf("decode image: size %d, want 1..%d: %w", size, maxImageSide, ErrConfig)
	}
	return decodeImage(data, size, params.Gray, invert, nil)
}
