// Command fsl-worker computes gradients for an fsl coordinator; see cli.NewWorkerApp.
package main

import (
	"os"

	"github.com/fsl-project/fsl/cli"
)

func main() {
	os.Exit(cli.Main(cli.NewWorkerApp()))
}
