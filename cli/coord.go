// Package cli builds the urfave/cli/v2 apps fsl-coord and fsl-worker: flags,
// config files and output. Logic that a package below should own stays there;
// nothing imports cli.
package cli

import (
	"github.com/urfave/cli/v2"
)

// NewCoordApp returns the fsl-coord application. Run it with Run (or Main),
// which lets flags follow positional arguments.
func NewCoordApp() *cli.App {
	return &cli.App{
		Name:  "fsl-coord",
		Usage: "train, inspect and evaluate few-shot learning jobs",
		Description: "Examples:\n" +
			"   fsl-coord start --local-workers 2                   # train the default job \"fsl\" into fsl.db\n" +
			"   fsl-coord eval --checkpoint best --way 5,20          # its accuracy on held-out classes\n" +
			"   fsl-coord status                                     # a running job, asked over NATS\n" +
			"   fsl-coord serve --local-workers 2                   # a queue of jobs; fsl-coord submit job.yaml adds one\n" +
			"   fsl-coord checkpoints ls --job fsl                   # its checkpoints\n" +
			"   fsl-coord help start                                 # one command's flags and examples\n\n" +
			"Flags may come before or after a command's arguments. Many read environment variables when not\n" +
			"given: FSL_NATS, FSL_TOKEN, FSL_NKEY, FSL_CREDS, FSL_AUTH, FSL_JOB, FSL_DB, FSL_HTTP_TOKEN (each flag's help names its own).",
		EnableBashCompletion: true,
		HideVersion:          true, // our own --version (versionFlag) says more than a version
		Flags:                []cli.Flag{versionFlag},
		Before:               rootBefore,
		Commands: []*cli.Command{
			// Each subcommand lives in its own file of this package.
			startCommand(),
			statusCommand(),
			serveCommand(),
			submitCommand(),
			jobsCommand(),
			resultsCommand(),
			benchCommand(),
			checkpointsCommand(),
			datasetCommand(),
			evalCommand(),
			authCommand(),
			completionCommand("fsl-coord"),
			historyCommand(),
		},
	}
}
