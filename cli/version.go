package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/model"
)

// Version and Revision name the build in --version. A build sets them with
// the linker, e.g. (a Docker build, which has no .git to read):
//
//	go build -ldflags "-X github.com/fsl-project/fsl/cli.Version=v1.2.0 -X github.com/fsl-project/fsl/cli.Revision=$(git rev-parse HEAD)" ./cmd/...
//
// When empty, they come from the module and VCS stamps Go writes into the
// binary (none with -buildvcs=false).
var (
	Version  string
	Revision string
)

// versionFlag is --version on both binaries.
var versionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, VCS revision, Go version, compute class and CUDA support, and exit"}

// buildInfo is what --version prints.
type buildInfo struct {
	Version, Revision, Go, Platform, Class, CUDA string
}

// readBuildInfo gathers buildInfo: the linker's Version and Revision, else
// the binary's build stamps; the compute class of a model made here on the
// CPU (kernel set and BLAS, as a job's workers must share it).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, Revision: Revision, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, CUDA: cudaSupport}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Revision == "":
				b.Revision = s.Value
			case s.Key == "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && Revision == "" && b.Revision != "" {
			b.Revision += " (with uncommitted changes)"
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Revision == "" {
		b.Revision = "unknown (built without VCS stamps; set it with -ldflags \"-X github.com/fsl-project/fsl/cli.Revision=...\")"
	}
	if m, err := model.New(model.Config{}); err != nil {
		b.Class = "unknown: " + err.Error()
	} else {
		b.Class = m.Class()
	}
	return b
}

func (b buildInfo) write(w io.Writer, name string) {
	fmt.Fprintf(w, "%s %s\n", name, b.Version)
	fmt.Fprintf(w, "  revision  %s\n", b.Revision)
	fmt.Fprintf(w, "  go        %s %s\n", b.Go, b.Platform)
	fmt.Fprintf(w, "  compute   %s\n", b.Class)
	fmt.Fprintf(w, "  cuda      %s\n", b.CUDA)
}

func printVersion(c *cli.Context) error {
	readBuildInfo().write(c.App.Writer, c.App.Name)
	return nil
}
