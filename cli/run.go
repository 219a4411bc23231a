package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Run runs app on args (args[0] is the program's name) with flags allowed
// after positional arguments: `dataset fetch omniglot --dir D` is
// `dataset fetch --dir D omniglot` (flagsFirst).
func Run(ctx context.Context, app *cli.App, args []string) error {
	return app.RunContext(ctx, flagsFirst(app, args))
}

// Main runs app on the process's arguments and returns its exit status:
// 0; the code of a cli.Exit error (2 for a usage error, 128+N after signal
// N, e.g. 130 after Ctrl-C and 143 after SIGTERM); 1 for any other error.
// It prints the error once on stderr, after the program's name.
func Main(app *cli.App) int {
	app.ExitErrHandler = func(*cli.Context, error) {} // reported below, once
	return exitStatus(os.Stderr, app.Name, Run(context.Background(), app, os.Args))
}

// exitStatus prints err (if it says anything) to w and returns the status
// Main exits with.
func exitStatus(w io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(w, "%s: %s\n", name, msg)
	}
	return code
}

// checkCommand is the coordinator app's Before: it refuses a command or
// help topic that does not exist with one line naming the ones that do,
// instead of urfave/cli's "No help topic for 'foo'".
func checkCommand(c *cli.Context) error {
	args := c.Args().Slice()
	cmds := c.App.Commands
	path := []string{c.App.Name}
	for _, a := range args {
		if len(cmds) == 0 || isFlag(a) || a == "--" {
			return nil
		}
		if a == "help" || a == "h" {
			continue
		}
		sub := findCommand(cmds, a)
		if sub == nil {
			return unknownCommand(strings.Join(path, " "), a, cmds)
		}
		path = append(path, sub.Name)
		cmds = sub.Subcommands
	}
	return nil
}

// unknownCommand is the usage error for name, which none of cmds (the
// commands of parent) is.
func unknownCommand(parent, name string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden && c.Name != "help" {
			names = append(names, c.Name)
		}
	}
	hint := ""
	for _, n := range names {
		if name != "" && strings.HasPrefix(n, name) || editDistance(n, name) <= 2 {
			hint = fmt.Sprintf(" Did you mean %q?", n)
			break
		}
	}
	return cli.Exit(fmt.Sprintf("%q is not a command of %s.%s Its commands: %s (%s --help shows each)",
		name, parent, hint, strings.Join(names, ", "), parent), 2)
}

// rootBefore runs before any fsl-coord command: --version prints the
// version and ends the run (an exit with status 0 and nothing to say);
// otherwise checkCommand.
func rootBefore(c *cli.Context) error {
	if c.Bool("version") {
		if err := printVersion(c); err != nil {
			return err
		}
		return cli.Exit("", 0)
	}
	return checkCommand(c)
}

// editDistance is the Levenshtein distance of a and b (bytes), for
// suggesting a command after a typo.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
