package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/fsl-project/fsl/episodes"
	"github.com/urfave/cli/v2"
)

// datasetCommand is `fsl-coord dataset inspect|fetch`.
func datasetCommand() *cli.Command {
	return &cli.Command{
		Name:  "dataset",
		Usage: "inspect or download few-shot datasets",
		Description: "Examples:\n" +
			"   fsl-coord dataset fetch omniglot --dir data/omniglot   # the official zips, checksummed\n" +
			"   fsl-coord dataset inspect data/omniglot --json         # classes, images, channels, fingerprint",
		Subcommands: []*cli.Command{
			{
				Name:      "inspect",
				Usage:     "print classes, images, groups, image size and content fingerprint of a dataset",
				ArgsUsage: "SPEC (glyphs[:seed=N,...], an Omniglot folder or zip, a miniImageNet folder, an image tree)",
				Description: "Examples:\n" +
					"   fsl-coord dataset inspect glyphs\n" +
					"   fsl-coord dataset inspect data/omniglot --split background --rotations --json",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
					&cli.IntFlag{Name: "size", Value: episodes.DefaultSize, Usage: "image side in pixels"},
					&cli.IntFlag{Name: "channels", Value: 1, Usage: "colour planes: 1 (grayscale) or 3 (RGB; not Omniglot)"},
					&cli.StringFlag{Name: "split", Usage: "background, evaluation, train, val, test, vinyals-train, vinyals-test (default: all classes)"},
					&cli.BoolFlag{Name: "rotations", Usage: "add 90/180/270 degree rotations as new classes"},
				},
				Action: datasetInspect,
			},
			{
				Name:      "fetch",
				Usage:     "download the official Omniglot zips with checksums, resume and atomic rename",
				ArgsUsage: "omniglot",
				Description: "Examples:\n" +
					"   fsl-coord dataset fetch omniglot --dir data/omniglot\n" +
					"   fsl-coord start --data data/omniglot --job omni --rotations --local-workers 2",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Value: ".", Usage: "folder to download into"},
					&cli.StringFlag{Name: "base-url", Value: episodes.OmniglotBaseURL, Usage: "URL the file names are appended to"},
					&cli.StringSliceFlag{Name: "sha256", Usage: "expected checksum as NAME=HEX (repeatable); required unless --base-url is the official one"},
				},
				Action: datasetFetch,
			},
		},
	}
}

// datasetSummary is what inspect prints.
type datasetSummary struct {
	Name             string         `json:"name"`
	Classes          int            `json:"classes"`
	Images           int            `json:"images"`
	Groups           int            `json:"groups"`
	ImagesPerClass   [2]int         `json:"images_per_class"` // min, max
	ClassesPerSet    map[string]int `json:"classes_per_set,omitempty"`
	ImageSize        int            `json:"image_size"`
	Channels         int            `json:"channels"`
	Fingerprint      string         `json:"fingerprint"`
	DistinctDecoded  int            `json:"decoded_images"`
	RotationsApplied bool           `json:"rotations"`
}

func datasetInspect(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("dataset inspect: want exactly one SPEC argument (e.g. glyphs or ../shared/data/omniglot)", 2)
	}
	if err := positive(c, "size", "channels"); err != nil {
		return err
	}
	ds, err := episodes.Open(c.Args().First(), episodes.Options{
		Size: c.Int("size"), Channels: c.Int("channels"), Split: c.String("split"), Rotations: c.Bool("rotations"),
	})
	if err != nil {
		return err
	}
	s := datasetSummary{Name: ds.Name, Classes: len(ds.Classes), Groups: len(ds.Groups()), ImageSize: ds.Size, Channels: ds.Channels,
		Fingerprint: ds.Fingerprint(), DistinctDecoded: ds.NumImages(), RotationsApplied: c.Bool("rotations"),
		ClassesPerSet: map[string]int{}}
	for i, cl := range ds.Classes {
		s.Images += cl.Count
		if i == 0 || cl.Count < s.ImagesPerClass[0] {
			s.ImagesPerClass[0] = cl.Count
		}
		s.ImagesPerClass[1] = max(s.ImagesPerClass[1], cl.Count)
		if cl.Set != "" {
			s.ClassesPerSet[cl.Set]++
		}
	}
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "dataset\t%s\n", s.Name)
	fmt.Fprintf(tw, "classes\t%d\n", s.Classes)
	fmt.Fprintf(tw, "images\t%d (%d decoded)\n", s.Images, s.DistinctDecoded)
	fmt.Fprintf(tw, "images per class\t%d..%d\n", s.ImagesPerClass[0], s.ImagesPerClass[1])
	fmt.Fprintf(tw, "groups (alphabets)\t%d\n", s.Groups)
	for _, set := range []string{"background", "evaluation", "train", "val", "test"} {
		if n, ok := s.ClassesPerSet[set]; ok {
			fmt.Fprintf(tw, "  %s classes\t%d\n", set, n)
		}
	}
	fmt.Fprintf(tw, "image size\t%dx%d\n", s.ImageSize, s.ImageSize)
	fmt.Fprintf(tw, "channels\t%d\n", s.Channels)
	fmt.Fprintf(tw, "fingerprint\t%s\n", s.Fingerprint)
	return tw.Flush()
}

func datasetFetch(c *cli.Context) error {
	if c.NArg() != 1 || c.Args().First() != "omniglot" {
		return cli.Exit("dataset fetch: the only dataset we download is omniglot (fsl-coord dataset fetch omniglot --dir D)", 2)
	}
	sums := map[string]string{}
	for _, kv := range c.StringSlice("sha256") {
		name, hex, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return cli.Exit(fmt.Sprintf("dataset fetch: --sha256 %q: want NAME=HEX", kv), 2)
		}
		sums[name] = hex
	}
	got, err := episodes.Fetch(c.Context, episodes.FetchOptions{BaseURL: c.String("base-url"), Dir: c.String("dir"), SHA256: sums})
	for _, f := range got {
		state := "downloaded"
		switch {
		case f.Present:
			state = "already present, checksum ok"
		case f.Resumed:
			state = fmt.Sprintf("resumed, %d bytes transferred", f.Downloaded)
		}
		fmt.Fprintf(c.App.Writer, "%s\t%d bytes\t%s\n", f.Path, f.Bytes, state)
	}
	return err
}
