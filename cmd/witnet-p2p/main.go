// Command witnet-p2p runs a Witnet P2P peer over libp2p and carries the tools around it:
// encoding and hashing Witnet messages, talking to a running node, a local devnet.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "witnet-p2p: %v\n", err)
		os.Exit(1)
	}
}

// newApp builds the CLI; tests run it in-process with their own arguments.
func newApp() *cli.App {
	return &cli.App{
		Name:            "witnet-p2p",
		Usage:           "a Witnet P2P peer over libp2p",
		HideHelpCommand: true,
		Commands: []*cli.Command{
			runCommand(),
			peersCommand(),
			knownPeersCommand(),
			addPeersCommand(),
			statsCommand(),
			identityCommand(),
			devnetCommand(),
			messageCommand(),
			versionCommand(),
		},
	}
}
