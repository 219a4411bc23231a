// Command fsl-coord trains, inspects and evaluates fsl jobs; see cli.NewCoordApp.
package main

import (
	"fmt"
	"os"

	"github.com/fsl-project/fsl/cli"
)

func main() {
	if err := cli.NewCoordApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "fsl-coord:", err)
		os.Exit(1)
	}
}
