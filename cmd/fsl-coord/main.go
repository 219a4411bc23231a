// Command fsl-coord trains, inspects and evaluates fsl jobs; see cli.NewCoordApp.
package main

import (
	"os"

	"github.com/fsl-project/fsl/cli"
)

func main() {
	os.Exit(cli.Main(cli.NewCoordApp()))
}
