package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionCommand is `completion bash|zsh`: a script that asks the
// program itself for completions (urfave/cli answers a command line that
// ends in --generate-bash-completion with the commands, or with the flags
// when the word being completed starts with "-").
func completionCommand(program string) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Description: "Completes commands, subcommands and flags.\n\n" +
			"Examples:\n" +
			"   source <(" + program + " completion bash)                   # this bash session\n" +
			"   " + program + " completion bash > /etc/bash_completion.d/" + program + "\n" +
			"   source <(" + program + " completion zsh)                    # zsh, in ~/.zshrc after compinit",
		Action: func(c *cli.Context) error {
			shell := c.Args().First()
			if c.NArg() != 1 || (shell != "bash" && shell != "zsh") {
				return cli.Exit(fmt.Sprintf("completion: want one argument, bash or zsh (got %q)", c.Args().Slice()), 2)
			}
			_, err := fmt.Fprint(c.App.Writer, completionScript(c.App.Name, shell))
			return err
		},
	}
}

// completionScript is the completion script of program for shell.
func completionScript(program, shell string) string {
	fn := "_" + strings.ReplaceAll(program, "-", "_") + "_complete"
	r := strings.NewReplacer("PROG", program, "FN", fn)
	if shell == "zsh" {
		return r.Replace(zshCompletion)
	}
	return r.Replace(bashCompletion)
}

// The word being completed goes to the program only when it is a flag:
// then the program lists flags, else the commands at that point, and the
// shell keeps those that start with the word.
const bashCompletion = `# bash completion for PROG: source <(PROG completion bash)
FN() {
	local cur=${COMP_WORDS[COMP_CWORD]} n=$((COMP_CWORD - 1)) IFS=$'\n'
	[[ $cur == -* ]] && n=$COMP_CWORD
	COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:n}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o bashdefault -o default -F FN PROG
`

const zshCompletion = `#compdef PROG
# zsh completion for PROG: source <(PROG completion zsh), after compinit
FN() {
	local cur=${words[CURRENT]} last=$((CURRENT - 1))
	[[ $cur == -* ]] && last=$CURRENT
	local -a found
	found=("${(@f)$(${words[1]} ${words[2,last]} --generate-bash-completion 2>/dev/null)}")
	compadd -- ${found%%:*}
}
compdef FN PROG
`
