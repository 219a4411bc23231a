package episodes

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Split names accepted by Options.Split and Select.
const (
	SplitAll          = ""              // every class
	SplitBackground   = "background"    // Omniglot/glyphs training alphabets
	SplitEvaluation   = "evaluation"    // Omniglot/glyphs test alphabets
	SplitTrain        = "train"         // background minus validation groups (miniImageNet: train.csv)
	SplitVal          = "val"           // validation groups held out of background (miniImageNet: val.csv)
	SplitTest         = "test"          // evaluation (miniImageNet: test.csv)
	SplitVinyalsTrain = "vinyals-train" // first 1200 classes by name of all classes
	SplitVinyalsTest  = "vinyals-test"  // the classes after the first 1200
)

// VinyalsTrainClasses is the size of the training side of the Vinyals et al.
// Omniglot split.
const VinyalsTrainClasses = 1200

// Select returns the classes of ds that opts.Split names, then, if
// opts.Rotations is set, each selected class four times, turned 0°, 90°,
// 180° and 270° (new classes named "<name>/rot90" etc., consecutive). The
// result shares ds's images. Split rules:
//
//   - "" keeps every class; "background" and "evaluation" keep classes of
//     that Set.
//   - "train" and "val": when ds has a Set of that name (miniImageNet) they
//     keep it. Otherwise they divide the background classes (all classes if
//     ds has no sets) by whole groups: "val" keeps the validation groups,
//     "train" the rest. Validation groups are opts.ValGroups when given,
//     otherwise opts.ValCount groups (default 20% of the groups, at least 1)
//     drawn from the sorted group names by a stream seeded with opts.ValSeed.
//   - "test" keeps Set "test" when present, else Set "evaluation".
//   - "vinyals-train" and "vinyals-test": all classes of ds (load both
//     Omniglot splits: 1,623 characters) sorted by name in byte order
//     ("Alphabet/characterNN"), the first 1,200 for training and the other
//     423 for testing.
//
// With opts.List set, Select keeps the listed classes instead, in the
// list's order and at its rotations (see ClassList); Rotations must then be
// off, as the list gives each class's rotation.
//
// A split with no classes is an error wrapping ErrEmpty.
func Select(ds *Dataset, opts Options) (*Dataset, error) {
	var classes []Class
	var err error
	if opts.List != nil {
		if opts.Rotations {
			return nil, fmt.Errorf("dataset %q: split %s lists each class's rotation; turn rotations off: %w", ds.Name, opts.List.Path, ErrConfig)
		}
		classes, err = selectList(ds, opts.List)
	} else {
		classes, err = selectClasses(ds, opts)
	}
	if err != nil {
		return nil, err
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("dataset %q: split %q has no classes: %w", ds.Name, opts.Split, ErrEmpty)
	}
	if opts.Rotations {
		rot := make([]Class, 0, 4*len(classes))
		for _, c := range classes {
			for q := 0; q < 4; q++ {
				r := c
				r.Rotation = (c.Rotation + q) & 3
				if q > 0 {
					r.Name = fmt.Sprintf("%s/rot%d", c.Name, 90*q)
				}
				rot = append(rot, r)
			}
		}
		classes = rot
	}
	name := ds.Name
	if opts.Split != "" {
		name += "[" + opts.Split + "]"
	}
	if opts.Rotations {
		name += "+rot"
	}
	return ds.subset(name, classes), nil
}

func hasSet(ds *Dataset, set string) bool {
	for _, c := range ds.Classes {
		if c.Set == set {
			return true
		}
	}
	return false
}

func classesOfSet(ds *Dataset, set string) []Class {
	var out []Class
	for _, c := range ds.Classes {
		if c.Set == set {
			out = append(out, c)
		}
	}
	return out
}

func selectClasses(ds *Dataset, opts Options) ([]Class, error) {
	switch opts.Split {
	case SplitAll:
		return append([]Class(nil), ds.Classes...), nil
	case SplitBackground, SplitEvaluation:
		return classesOfSet(ds, opts.Split), nil
	case SplitTest:
		if hasSet(ds, SplitTest) {
			return classesOfSet(ds, SplitTest), nil
		}
		return classesOfSet(ds, SplitEvaluation), nil
	case SplitTrain, SplitVal:
		if hasSet(ds, opts.Split) {
			return classesOfSet(ds, opts.Split), nil
		}
		base := ds.Classes
		if hasSet(ds, SplitBackground) {
			base = classesOfSet(ds, SplitBackground)
		}
		val, err := validationGroups(ds.Name, base, opts)
		if err != nil {
			return nil, err
		}
		var out []Class
		for _, c := range base {
			if val[groupOf(c)] == (opts.Split == SplitVal) {
				out = append(out, c)
			}
		}
		return out, nil
	case SplitVinyalsTrain, SplitVinyalsTest:
		all := append([]Class(nil), ds.Classes...)
		if len(all) <= VinyalsTrainClasses {
			return nil, fmt.Errorf("dataset %q: split %q needs more than %d classes (load both Omniglot splits), have %d: %w", ds.Name, opts.Split, VinyalsTrainClasses, len(all), ErrEmpty)
		}
		sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		if opts.Split == SplitVinyalsTrain {
			return all[:VinyalsTrainClasses], nil
		}
		return all[VinyalsTrainClasses:], nil
	}
	return nil, fmt.Errorf("dataset %q: unknown split %q (want one of %s): %w", ds.Name, opts.Split,
		strings.Join([]string{"background", "evaluation", "train", "val", "test", "vinyals-train", "vinyals-test"}, ", "), ErrConfig)
}

// groupOf is a class's group, or its name when it has none.
func groupOf(c Class) string {
	if c.Group == "" {
		return c.Name
	}
	return c.Group
}

// validationGroups picks the groups held out for validation from base.
func validationGroups(name string, base []Class, opts Options) (map[string]bool, error) {
	set := map[string]bool{}
	for _, c := range base {
		set[groupOf(c)] = true
	}
	groups := make([]string, 0, len(set))
	for g := range set {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	val := map[string]bool{}
	if len(opts.ValGroups) > 0 {
		for _, g := range opts.ValGroups {
			if !set[g] {
				return nil, fmt.Errorf("dataset %q: validation group %q is not among the %d training groups: %w", name, g, len(groups), ErrConfig)
			}
			val[g] = true
		}
		return val, nil
	}
	k := opts.ValCount
	if k == 0 {
		k = max(1, int(math.Round(0.2*float64(len(groups)))))
	}
	if k < 0 || k >= len(groups) {
		return nil, fmt.Errorf("dataset %q: cannot hold out %d of %d groups for validation: %w", name, k, len(groups), ErrConfig)
	}
	r := newRNG(domainSplit, opts.ValSeed)
	for _, i := range r.sample(len(groups), k) {
		val[groups[i]] = true
	}
	return val, nil
}
