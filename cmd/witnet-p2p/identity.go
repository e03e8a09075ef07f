package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node"
	"github.com/witnet-p2p/witnet-p2p/node/datadir"
)

// identityCommand shows the identity of a data directory, creating it if needed.
func identityCommand() *cli.Command {
	return &cli.Command{
		Name:  "identity",
		Usage: "show (or create) the identity key of a data directory: peer ID and key file",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagDataDir, EnvVars: envOf(flagDataDir), Value: node.DefaultDataDir, Usage: "data `DIR`ectory"},
			&cli.BoolFlag{Name: "no-create", Usage: "fail instead of creating a key when there is none"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		OnUsageError: flagError,
		Action: oneLineErrors(func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("identity takes no arguments, got %q", c.Args().First())
			}
			dir := c.String(flagDataDir)
			path := datadir.IdentityPath(dir)
			var created bool
			key, err := datadir.LoadIdentity(path)
			switch {
			case errors.Is(err, fs.ErrNotExist) && !c.Bool("no-create"):
				key, created, err = datadir.LoadOrCreateIdentity(dir)
			case errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("no identity key at %s", path)
			}
			if err != nil {
				return err
			}
			id, err := datadir.PeerIDOf(key)
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool("json") {
				return json.NewEncoder(w).Encode(map[string]any{"peerId": id.String(), "keyFile": path, "created": created})
			}
			if created {
				fmt.Fprintf(w, "created a new identity\n")
			}
			fmt.Fprintf(w, "peer ID:  %s\nkey file: %s\n", id, path)
			return nil
		}),
	}
}
