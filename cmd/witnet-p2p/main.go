// Command witnet-p2p runs a Witnet P2P peer over libp2p and carries the tools around it:
// encoding and hashing Witnet messages, talking to a running node, a local devnet.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

func main() {
	os.Exit(runMain(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// runMain runs the CLI with args (args[0] is the program name) and returns the process's
// exit code: 0, or 1 after writing the error to stderr as one line.
func runMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp()
	app.Reader, app.Writer, app.ErrWriter = stdin, stdout, stderr
	// urfave/cli would end the process itself on an error carrying an exit code; every
	// error is reported below instead, the same way.
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := app.Run(flagsFirst(app, args)); err != nil {
		fmt.Fprintf(stderr, "witnet-p2p: %v\n", err)
		return 1
	}
	return 0
}

// newApp builds the CLI; tests run it in-process with their own arguments.
func newApp() *cli.App {
	cli.VersionPrinter = printVersion
	return withUnknownCommandErrors(&cli.App{
		Name:            "witnet-p2p",
		Usage:           "a Witnet P2P peer over libp2p",
		Version:         versionString(),
		HideHelpCommand: true,
		Commands: []*cli.Command{
			runCommand(),
			peersCommand(),
			knownPeersCommand(),
			addPeersCommand(),
			clearPeersCommand(),
			initializePeersCommand(),
			statsCommand(),
			healthCommand(),
			identityCommand(),
			devnetCommand(),
			messageCommand(),
			inventoryCommand(),
			versionCommand(),
		},
	})
}

// withUnknownCommandErrors makes every level of app's command tree answer an unknown
// command with a one-line error (exit code 1) instead of urfave/cli's default, which prints
// "No help topic for ..." and exits with code 3. The app and every command with
// sub-commands get an Action that shows the help when called bare or as "help [NAME]" and
// reports anything else as unknown; their built-in help command is hidden, so that
// "help NAME" reaches that Action too. A command's own Action is kept.
func withUnknownCommandErrors(app *cli.App) *cli.App {
	app.HideHelpCommand = true
	if app.Action == nil {
		app.Action = dispatchAction(app.Commands, cli.ShowAppHelp, func(name string) error {
			return fmt.Errorf("unknown command %q%s", name, didYouMean(app.Commands, name))
		})
	}
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			if len(cmd.Subcommands) == 0 {
				continue
			}
			cmd.HideHelpCommand = true
			if cmd.Action == nil {
				cmd.Action = dispatchAction(cmd.Subcommands, cli.ShowSubcommandHelp, unknownSubcommand(cmd))
			}
			walk(cmd.Subcommands)
		}
	}
	walk(app.Commands)
	return app
}

// dispatchAction is the Action urfave/cli runs when no command of cmds matched the
// arguments: none shows the help, "help" (or "h") shows it too, "help NAME" shows the help
// of the command NAME, and anything else is unknown.
func dispatchAction(cmds []*cli.Command, showHelp cli.ActionFunc, unknown func(name string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		args := c.Args().Slice()
		if len(args) > 0 && (args[0] == "help" || args[0] == "h") {
			args = args[1:]
			if len(args) > 0 {
				if !hasCommand(cmds, args[0]) {
					return unknown(args[0])
				}
				return cli.ShowCommandHelp(c, args[0])
			}
		}
		if len(args) > 0 {
			return unknown(args[0])
		}
		return showHelp(c)
	}
}

func hasCommand(cmds []*cli.Command, name string) bool {
	for _, cmd := range cmds {
		if cmd.HasName(name) {
			return true
		}
	}
	return false
}

// unknownSubcommand reports a name that is none of cmd's sub-commands, listing them:
// unknown message command "sign": want decode, encode or hash.
func unknownSubcommand(cmd *cli.Command) func(name string) error {
	return func(name string) error {
		var names []string
		for _, sub := range cmd.Subcommands {
			if !sub.Hidden {
				names = append(names, sub.Name)
			}
		}
		if hint := didYouMean(cmd.Subcommands, name); hint != "" {
			return fmt.Errorf("unknown %s command %q%s", cmd.Name, name, hint)
		}
		if len(names) == 0 {
			return fmt.Errorf("unknown %s command %q", cmd.Name, name)
		}
		want := strings.Join(names, ", ")
		if i := strings.LastIndex(want, ", "); i >= 0 {
			want = want[:i] + " or " + want[i+2:]
		}
		return fmt.Errorf("unknown %s command %q: want %s", cmd.Name, name, want)
	}
}
