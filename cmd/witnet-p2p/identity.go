package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
)

// identityCommand shows the identity the node would run with: the key of --identity, or
// of the data directory, with run's flags, environment variables and --config file. It
// creates a key only when asked to (--create).
func identityCommand() *cli.Command {
	flags := append(visibleOnly(runFlags(), flagConfig, flagDataDir, flagIdentity),
		&cli.BoolFlag{Name: "create", Usage: "create a key in the data directory if it has none (as run does on its first start)"},
		&cli.BoolFlag{Name: "no-create", Hidden: true, Usage: "the default: never create a key"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON"},
	)
	return &cli.Command{
		Name: "identity",
		Usage: "show the peer ID and key file the node would use, with run's --identity, --data-dir, " +
			"--config and their environment variables",
		Flags:        flags,
		OnUsageError: flagError,
		Action:       oneLineErrors(showIdentity),
	}
}

func showIdentity(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("identity takes no arguments, got %q", c.Args().First())
	}
	if c.Bool("create") && c.Bool("no-create") {
		return errors.New("identity: --create and --no-create contradict each other")
	}
	if err := loadConfigFile(c); err != nil {
		return err
	}
	var (
		key     crypto.PrivKey
		path    string
		created bool
		err     error
	)
	if path = c.String(flagIdentity); path != "" {
		if c.Bool("create") {
			return fmt.Errorf("identity: --create makes a key in the data directory, not at --%s %s", flagIdentity, path)
		}
		if key, err = datadir.LoadIdentity(path); err != nil {
			return fmt.Errorf("--%s: %w", flagIdentity, err)
		}
	} else {
		dir := c.String(flagDataDir)
		path = datadir.IdentityPath(dir)
		key, err = datadir.LoadIdentity(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && c.Bool("create"):
			key, created, err = datadir.LoadOrCreateIdentity(dir)
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("no identity key at %s: the node creates one on its first start (or run identity --create)", path)
		}
		if err != nil {
			return err
		}
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
}

// visibleOnly returns flags with every flag but the named ones hidden from the help: a
// command that reads run's configuration takes all of run's flags (so that a --config
// file or the environment meant for run is accepted as it is) but uses only a few.
func visibleOnly(flags []cli.Flag, names ...string) []cli.Flag {
	for _, f := range flags {
		if slices.Contains(names, f.Names()[0]) {
			continue
		}
		switch f := f.(type) {
		case *cli.StringFlag:
			f.Hidden = true
		case *altsrc.StringFlag:
			f.Hidden = true
		case *altsrc.BoolFlag:
			f.Hidden = true
		case *altsrc.StringSliceFlag:
			f.Hidden = true
		case *altsrc.IntFlag:
			f.Hidden = true
		case *altsrc.UintFlag:
			f.Hidden = true
		case *altsrc.DurationFlag:
			f.Hidden = true
		case *altsrc.Float64Flag:
			f.Hidden = true
		}
	}
	return flags
}
