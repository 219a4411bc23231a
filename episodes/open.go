package episodes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsl-project/fsl/params"
)

// DefaultSize is the image side used when Options.Size is zero.
const DefaultSize = 28

// Options say how to open a dataset. The zero value opens every class at
// 28×28 in grayscale without rotations.
type Options struct {
	// Size is the side images are resized to; 0 means DefaultSize.
	Size int
	// Channels is 0 or 1 for grayscale, 3 for RGB: image trees and
	// miniImageNet decode their images' colours, the glyphs are drawn in
	// class colours (GlyphsConfig.Channels). Omniglot is grayscale: asking
	// it for 3 is an error (ErrConfig).
	Channels int
	// Rotations adds each class's 90°, 180° and 270° rotations as new
	// classes (Vinyals et al., Snell et al.).
	Rotations bool
	// Split names the classes to keep; see Select. "" keeps all. A split
	// that names a class-list file (see SplitFile) keeps the classes it
	// lists: Open reads it into List.
	Split string
	// List, when set, is the split: Select keeps exactly its classes, in
	// its order, at its rotations (Rotations must be off).
	List *ClassList
	// ValGroups, ValCount and ValSeed choose the validation groups for the
	// "train" and "val" splits; see Select.
	ValGroups []string
	ValCount  int
	ValSeed   uint64
}

// Open opens a dataset by spec and selects opts.Split:
//
//   - "" or "glyphs" or "glyphs:seed=7,alphabets=20,chars=20,drawers=20":
//     the synthetic glyphs dataset (see Glyphs);
//   - a folder holding images_background.zip / images_evaluation.zip (or
//     those folders extracted): Omniglot, reading only the splits needed;
//   - a path to one Omniglot split zip;
//   - a folder with images/ and train.csv / val.csv / test.csv: miniImageNet;
//   - any other folder: a class-per-folder image tree.
//
// A split that names a class-list file (SplitFile: "vinyals/test" beside
// the Omniglot zips, or a path ending in .txt) loads both Omniglot zips
// and keeps the listed classes (see ClassList).
func Open(spec string, opts Options) (*Dataset, error) {
	if opts.Size == 0 {
		opts.Size = DefaultSize
	}
	if opts.Size < 1 || opts.Size > maxImageSide {
		return nil, fmt.Errorf("open dataset %q: size %d, want 1..%d: %w", spec, opts.Size, maxImageSide, ErrConfig)
	}
	if opts.Channels != 0 && opts.Channels != params.Gray && opts.Channels != params.RGB {
		return nil, fmt.Errorf("open dataset %q: channels %d, want %d (grayscale) or %d (RGB): %w", spec, opts.Channels, params.Gray, params.RGB, ErrConfig)
	}
	if err := opts.ReadList(spec); err != nil {
		return nil, fmt.Errorf("open dataset %q: %w", spec, err)
	}
	ds, err := load(spec, opts)
	if err != nil {
		return nil, fmt.Errorf("open dataset %q: %w", spec, err)
	}
	out, err := Select(ds, opts)
	if err != nil {
		return nil, fmt.Errorf("open dataset %q: %w", spec, err)
	}
	return out, nil
}

func load(spec string, opts Options) (*Dataset, error) {
	if spec == "" || spec == "glyphs" || strings.HasPrefix(spec, "glyphs:") {
		cfg, err := parseGlyphsSpec(spec)
		if err != nil {
			return nil, err
		}
		cfg.Size, cfg.Channels = opts.Size, opts.Channels
		return Glyphs(cfg)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, err
	}
	// Omniglot is pen strokes on paper: no colour to decode
	grayOnly := func() error {
		if opts.Channels == params.RGB {
			return fmt.Errorf("Omniglot is grayscale: channels %d needs an image tree, miniImageNet or the glyphs (use channels 1): %w", opts.Channels, ErrConfig)
		}
		return nil
	}
	if !st.IsDir() {
		if strings.EqualFold(filepath.Ext(spec), ".zip") {
			if err := grayOnly(); err != nil {
				return nil, err
			}
			return LoadOmniglotZip(spec, opts.Size)
		}
		return nil, fmt.Errorf("%q is a file but not a .zip; want a dataset folder, an Omniglot zip or a glyphs spec: %w", spec, ErrFormat)
	}
	switch {
	case isOmniglotDir(spec):
		if err := grayOnly(); err != nil {
			return nil, err
		}
		var sets []string
		switch opts.Split {
		case SplitBackground, SplitTrain, SplitVal:
			sets = []string{"background"}
		case SplitEvaluation, SplitTest:
			sets = []string{"evaluation"}
		case SplitAll:
			for _, s := range omniglotSets {
				if fileExists(filepath.Join(spec, s.stem+".zip")) || fileExists(filepath.Join(spec, s.stem)) {
					sets = append(sets, s.set)
				}
			}
		}
		return LoadOmniglot(spec, opts.Size, sets...)
	case isMiniImageNetDir(spec):
		var sets []string
		switch opts.Split {
		case SplitTrain, SplitVal, SplitTest:
			sets = []string{opts.Split}
		case SplitAll:
			for _, s := range MiniImageNetSplits {
				if fileExists(filepath.Join(spec, s+".csv")) {
					sets = append(sets, s)
				}
			}
		}
		return LoadMiniImageNet(spec, opts.Size, opts.Channels, sets...)
	}
	return LoadFolder(spec, opts.Size, opts.Channels)
}
