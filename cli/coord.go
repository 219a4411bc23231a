// Package cli builds the urfave/cli/v2 apps fsl-coord and fsl-worker: flags,
// config files and output. Logic that a package below should own stays there;
// nothing imports cli.
package cli

import (
	"github.com/urfave/cli/v2"
)

// NewCoordApp returns the fsl-coord application.
func NewCoordApp() *cli.App {
	return &cli.App{
		Name:  "fsl-coord",
		Usage: "train, inspect and evaluate few-shot learning jobs",
		Commands: []*cli.Command{
			// Each subcommand lives in its own file of this package.
			startCommand(),
			statusCommand(),
			benchCommand(),
			checkpointsCommand(),
			datasetCommand(),
			evalCommand(),
			authCommand(),
			historyCommand(),
		},
	}
}
