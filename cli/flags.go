package cli

import (
	"github.com/urfave/cli/v2"
)

// The flags that name one thing across commands: one name, one
// environment variable, wherever they apply.

// natsFlag is --nats (FSL_NATS): the NATS server to connect to.
func natsFlag(value, usage string) cli.Flag {
	return &cli.StringFlag{Name: "nats", Value: value, EnvVars: []string{"FSL_NATS"}, Usage: usage}
}

// tokenFlag is --token (FSL_TOKEN): the NATS server's shared token.
func tokenFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "token", EnvVars: []string{"FSL_TOKEN"}, Usage: usage}
}

// credsFlag is --creds (FSL_CREDS): a NATS user credentials file.
func credsFlag() cli.Flag {
	return &cli.StringFlag{Name: "creds", EnvVars: []string{"FSL_CREDS"}, Usage: "NATS user credentials file (an external NATS server's users), instead of a token"}
}

// jobFlag is --job (FSL_JOB).
func jobFlag(value, usage string) cli.Flag {
	return &cli.StringFlag{Name: "job", Value: value, EnvVars: []string{"FSL_JOB"}, Usage: usage}
}

// dbFlag is --db (FSL_DB): the checkpoint store.
func dbFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "db", Value: "fsl.db", EnvVars: []string{"FSL_DB"}, Usage: usage}
}

// progressFlags are --progress and the older --quiet (hidden: --progress
// never).
func progressFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "progress", Value: "auto", Usage: "progress on stderr: auto (only when stderr is a terminal), always or never; never inside --json output or JSON logs"},
		&cli.BoolFlag{Name: "quiet", Hidden: true, Usage: "no progress (--progress never)"},
	}
}

// stringOf is the value of flag name, or of its hidden older name old when
// only that was given.
func stringOf(c *cli.Context, name, old string) string {
	if !c.IsSet(name) && c.IsSet(old) {
		return c.String(old)
	}
	return c.String(name)
}
