// Package invcli is the "inventory" command of the witnet-p2p CLI: it submits items to a
// running node and fetches them back by hash over the node's JSON-RPC interface.
package invcli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// rpcFlag names the node to talk to; both sub-commands take it.
func rpcFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "rpc-addr",
		Aliases: []string{"rpc"},
		Usage:   "the node's JSON-RPC address (host:port or URL)",
		Value:   rpc.DefaultAddr,
		EnvVars: []string{"WITNET_P2P_RPC_ADDR"},
	}
}

func timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the node", Value: 10 * time.Second}
}

// Command returns the "inventory" command with its "submit" and "get" sub-commands.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "submit items to a running node, or fetch them by hash",
		Subcommands: []*cli.Command{
			{
				Name:      "submit",
				Usage:     "store an item at the node, which gossips it to the network; prints its hash",
				ArgsUsage: "HEX (the item's protobuf encoding; read from standard input if absent)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "kind", Usage: "item kind: transaction, block, superblock or superblockVote", Value: inventory.LabelTransaction},
					rpcFlag(), timeoutFlag(),
				},
				Action: submit,
			},
			{
				Name:      "get",
				Usage:     "print a stored item as JSON {\"kind\", \"hex\"}",
				ArgsUsage: "HASH",
				Flags:     []cli.Flag{rpcFlag(), timeoutFlag()},
				Action:    get,
			},
		},
	}
}

func submit(c *cli.Context) error {
	kind, err := inventory.ParseKind(c.String("kind"))
	if err != nil {
		return err
	}
	var text string
	switch c.NArg() {
	case 0:
		b, err := io.ReadAll(io.LimitReader(c.App.Reader, 64<<20))
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		text = string(b)
	case 1:
		text = c.Args().First()
	default:
		return errors.New("submit takes one HEX argument")
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(text), "0x"))
	if err != nil {
		return fmt.Errorf("item is not hex: %w", err)
	}
	client := rpc.NewClient(c.String("rpc-addr"), c.Duration("timeout"))
	h, err := inventory.SubmitItem(c.Context, client, kind, raw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, h)
	return err
}

func get(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("get takes one HASH argument")
	}
	h, err := protocol.ParseHash(c.Args().First())
	if err != nil {
		return err
	}
	client := rpc.NewClient(c.String("rpc-addr"), c.Duration("timeout"))
	res, err := inventory.GetItem(c.Context, client, h)
	if err != nil {
		return err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, string(out))
	return err
}
