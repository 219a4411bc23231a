// Command fsl-worker computes gradients for an fsl coordinator; see cli.NewWorkerApp.
package main

import (
	"fmt"
	"os"

	"github.com/fsl-project/fsl/cli"
)

func main() {
	if err := cli.NewWorkerApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "fsl-worker:", err)
		os.Exit(1)
	}
}
