package episodes

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/fsl-project/fsl/params"
)

// isImageFile reports whether a file name has an extension we decode.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// LoadFolder loads a class-per-folder image tree: every folder under root
// that directly holds PNG or JPEG files is a class named by its slash path
// relative to root ("cat" or "animals/cat"); its group is its parent path, or
// the class name for folders directly under root. Other files and dot files
// are ignored. Images are converted to grayscale (channels 0 or 1) or to
// RGB planes (channels 3) without inversion, and each plane is resized to
// size×size (28 when size is 0), stretching non-square ones.
func LoadFolder(root string, size, channels int) (*Dataset, error) {
	if size == 0 {
		size = DefaultSize
	}
	channels = max(channels, params.Gray)
	var items []item
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isImageFile(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		class := filepath.ToSlash(rel)
		if class == "." {
			return fmt.Errorf("image %q lies directly in %q; a class-per-folder tree wants <class>/<image>: %w", p, root, ErrFormat)
		}
		group := path.Dir(class)
		if group == "." {
			group = class
		}
		items = append(items, item{class: class, group: group, source: p, drawer: -1,
			read: func() ([]byte, error) { return readFileLimited(p) }})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image folder %q: %w", root, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("image folder %q: no PNG or JPEG files in any class folder: %w", root, ErrEmpty)
	}
	return assemble(root, size, channels, false, items)
}
