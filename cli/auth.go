package cli

import (
	"fmt"
	"path/filepath"

	"github.com/fsl-project/fsl/wire/transport"
	"github.com/urfave/cli/v2"
)

// authCommand manages the role credentials (transport.WriteAuth).
func authCommand() *cli.Command {
	return &cli.Command{
		Name:  "auth",
		Usage: "make the credentials of the coordinator, worker and reader roles",
		Description: "Examples:\n" +
			"   fsl-coord auth init --dir auth                      # one key per role, users.json, nats-server.conf\n" +
			"   fsl-coord start --auth auth --listen 0.0.0.0:4222   # the embedded server admits only those keys\n" +
			"   fsl-worker --nats nats://coord:4222 --nkey auth/worker.nk",
		Subcommands: []*cli.Command{{
			Name:  "init",
			Usage: "write a fresh key per role into a folder",
			Description: "Writes coordinator.nk, worker.nk and reader.nk (secret seeds, mode 0600: whoever holds one\n" +
				"acts in that role), users.json (the public keys the embedded server admits) and nats-server.conf\n" +
				"(the same roles for an external NATS server). NATS enforces each role's subjects: a worker may only\n" +
				"join, ask for work and parameters, send results and heartbeats; a reader may only ask for status\n" +
				"and checkpoints; only the coordinator publishes control messages.\n\n" +
				"Examples:\n" +
				"   fsl-coord auth init --dir auth\n" +
				"   fsl-coord start --auth auth --listen 0.0.0.0:4222\n" +
				"   fsl-worker --nats nats://coord:4222 --nkey auth/worker.nk\n" +
				"   fsl-coord status --nats nats://coord:4222 --nkey auth/reader.nk",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "dir", Value: "fsl-auth", Usage: "folder to create; it must not hold credentials already"},
			},
			Action: func(c *cli.Context) error {
				if c.Args().Len() > 0 {
					return fmt.Errorf("auth init takes no arguments (got %q); name the folder with --dir", c.Args().First())
				}
				d, err := transport.WriteAuth(c.String("dir"))
				if err != nil {
					return fmt.Errorf("--dir %s: %w", c.String("dir"), err)
				}
				w := c.App.Writer
				fmt.Fprintf(w, "wrote role credentials to %s:\n", c.String("dir"))
				for _, r := range transport.Roles {
					fmt.Fprintf(w, "  %-12s %s\n", r, d.Seed(r))
				}
				fmt.Fprintf(w, "  %-12s %s\n", "server", filepath.Join(c.String("dir"), "users.json"))
				fmt.Fprintf(w, "  %-12s %s\n", "external", filepath.Join(c.String("dir"), "nats-server.conf"))
				fmt.Fprintf(w, "start the coordinator with --auth %s; give workers --nkey %s and readers --nkey %s\n",
					c.String("dir"), d.Seed(transport.RoleWorker), d.Seed(transport.RoleReader))
				return nil
			},
		}},
	}
}

// nkeyFlag is a client's role credential.
func nkeyFlag(role transport.Role) *cli.StringFlag {
	return &cli.StringFlag{Name: "nkey", EnvVars: []string{"FSL_NKEY"},
		Usage: fmt.Sprintf("NKey seed file of the %s role (fsl-coord auth init), instead of a token", role)}
}

// authFlag is start's folder of role credentials.
var authFlag = &cli.StringFlag{Name: "auth", EnvVars: []string{"FSL_AUTH"},
	Usage: "folder of role credentials (fsl-coord auth init): the embedded server admits only those roles, each limited to its subjects; instead of --token"}

// roleAuth is what start needs of --auth: the users the embedded server
// admits, and the seed files the coordinator and its local workers connect
// with. Without --auth it is zero.
type roleAuth struct {
	users             []transport.User
	coordKey, workKey string
}

func startAuth(c *cli.Context) (roleAuth, error) {
	dir := c.String("auth")
	if dir == "" {
		return roleAuth{}, nil
	}
	if c.String("token") != "" {
		return roleAuth{}, fmt.Errorf("--auth and --token both given: use one (--auth gives each role only its subjects)")
	}
	d := transport.AuthDir(dir)
	users, err := d.Users()
	if err != nil {
		return roleAuth{}, fmt.Errorf("--auth %s: %w", dir, err)
	}
	return roleAuth{users: users, coordKey: d.Seed(transport.RoleCoordinator), workKey: d.Seed(transport.RoleWorker)}, nil
}
