package cli

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is the argument urfave/cli appends (last) when a shell
// asks for completions.
const completionFlag = "--generate-bash-completion"

// flagsFirst returns args (args[0] the program) with the flags of the
// command they name moved before its positional arguments, so that
// `fsl-coord dataset fetch omniglot --dir D` means what
// `fsl-coord dataset fetch --dir D omniglot` means: urfave/cli v2 stops
// reading flags at the first positional argument and would leave --dir D
// as arguments. The command is found by walking app's commands along the
// arguments; a flag's value moves with it unless the flag is a bool (or
// written --flag=value). With --help the arguments go (they would be read
// as help topics). Everything after "--" stays positional, and a
// completion request is left as it is (the shell completes the word it is
// on, which must stay last).
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == completionFlag {
		return args
	}
	out := append(make([]string, 0, len(args)), args[0])
	rest := args[1:]
	flags, cmds := app.Flags, app.Commands
	for {
		// the flags of this level, up to its first positional argument
		i := 0
		for i < len(rest) && isFlag(rest[i]) {
			i += flagWidth(flags, rest[i:])
		}
		i = min(i, len(rest))
		out = append(out, rest[:i]...)
		rest = rest[i:]
		if len(rest) == 0 {
			return out
		}
		if sub := findCommand(cmds, rest[0]); sub != nil {
			out = append(out, rest[0])
			rest = rest[1:]
			flags, cmds = sub.Flags, sub.Subcommands
			continue
		}
		// rest[0] is this level's first positional argument: the flags
		// after it go before it.
		var pos []string
		for len(rest) > 0 {
			switch {
			case rest[0] == "--":
				pos = append(pos, rest...)
				rest = nil
			case isFlag(rest[0]):
				n := min(flagWidth(flags, rest), len(rest))
				out = append(out, rest[:n]...)
				rest = rest[n:]
			default:
				pos = append(pos, rest[0])
				rest = rest[1:]
			}
		}
		if slices.ContainsFunc(out, isHelp) {
			return out // urfave/cli would read the arguments as help topics
		}
		return append(out, pos...)
	}
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// isFlag says whether arg is a flag ("-x", "--x", "--x=v"), not "-" (the
// standard input) or "--" (the end of flags).
func isFlag(arg string) bool {
	return len(arg) > 1 && arg[0] == '-' && arg != "--"
}

// flagWidth is how many arguments the flag at args[0] takes up: 2 when it
// is one of flags that takes a value not written with "=", else 1 (bools,
// --help, and flags the command does not have, which urfave/cli then
// refuses by name).
func flagWidth(flags []cli.Flag, args []string) int {
	name := strings.TrimLeft(args[0], "-")
	if strings.Contains(name, "=") {
		return 1
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return 1
			}
			return 2
		}
	}
	return 1
}

// findCommand is the command of cmds named (or aliased) name, or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
