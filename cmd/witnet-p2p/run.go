package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node"
)

// runCommand starts a node and keeps it running until SIGINT or SIGTERM.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a Witnet P2P node until interrupted",
		Description: "Every flag can also come from its environment variable (shown below) or from the\n" +
			"TOML file given with --config, whose keys are the flag names. Flags win over the\n" +
			"environment, which wins over the file.",
		Flags:        runFlags(),
		OnUsageError: flagError,
		Action:       oneLineErrors(runNode),
	}
}

// flagError turns a flag parsing failure into one line, instead of urfave/cli's default
// of printing the whole help text first.
func flagError(c *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%s: %w (see witnet-p2p %s --help)", c.Command.Name, err, c.Command.Name)
}

func runNode(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("run takes no arguments, got %q", c.Args().First())
	}
	if err := loadConfigFile(c); err != nil {
		return err
	}
	if err := setupLogging(c.String(flagLogLevel)); err != nil {
		return err
	}
	opts, err := nodeOptions(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.New(ctx, opts...)
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "witnet-p2p node running\npeer ID: %s\nbootstrap other nodes from:\n", n.ID())
	for _, a := range n.Addrs() {
		fmt.Fprintf(w, "  %s\n", a)
	}
	if addr := n.LegacyAddr(); addr != nil {
		fmt.Fprintf(w, "plain TCP (witnet-rust nodes): %s\n", addr)
	}
	if addr := n.RPCAddr(); addr != nil {
		fmt.Fprintf(w, "JSON-RPC: http://%s/  metrics: http://%s/metrics\n", addr, addr)
	}
	<-ctx.Done()
	stop() // a second signal now kills the process the default way
	return n.Close()
}
