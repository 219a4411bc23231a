package cli

import (
	"github.com/urfave/cli/v2"
)

// NewWorkerApp returns the fsl-worker application.
func NewWorkerApp() *cli.App {
	return &cli.App{
		Name:  "fsl-worker",
		Usage: "compute gradients for an fsl coordinator",
	}
}
