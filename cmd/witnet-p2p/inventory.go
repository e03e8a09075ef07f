package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// maxSubmitInput bounds the hex item read from standard input by "inventory submit".
const maxSubmitInput = 64 << 20

// inventoryCommand submits items to a running node and fetches them back by hash over its
// JSON-RPC interface.
func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "submit items to a running node, or fetch them by hash",
		Subcommands: []*cli.Command{
			{
				Name:      "submit",
				Usage:     "store an item at the node, which gossips it to the network; prints its hash",
				ArgsUsage: "HEX (the item's protobuf encoding; read from standard input if absent)",
				Flags: append(inventoryFlags(),
					&cli.StringFlag{Name: "kind", Usage: "item kind: transaction, block, superblock or superblockVote", Value: inventory.LabelTransaction}),
				OnUsageError: flagError,
				Action:       oneLineErrors(inventorySubmit),
			},
			{
				Name:         "get",
				Usage:        "print a stored item as JSON {\"kind\", \"hex\"}",
				ArgsUsage:    "HASH",
				Flags:        inventoryFlags(),
				OnUsageError: flagError,
				Action:       oneLineErrors(inventoryGet),
			},
		},
	}
}

// inventoryFlags are the flags both inventory sub-commands take.
func inventoryFlags() []cli.Flag {
	return []cli.Flag{
		rpcAddrFlag(),
		clientTokenFlag(),
		&cli.DurationFlag{Name: flagTimeout, Usage: "how long to wait for the node", Value: rpc.DefaultTimeout},
	}
}

func inventorySubmit(c *cli.Context) error {
	kind, err := inventory.ParseKind(c.String("kind"))
	if err != nil {
		return err
	}
	var text string
	switch c.NArg() {
	case 0:
		b, err := io.ReadAll(io.LimitReader(c.App.Reader, maxSubmitInput))
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
	cl, err := client(c)
	if err != nil {
		return err
	}
	h, err := inventory.SubmitItem(c.Context, cl, kind, raw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, h)
	return err
}

func inventoryGet(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("get takes one HASH argument")
	}
	h, err := protocol.ParseHash(c.Args().First())
	if err != nil {
		return err
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	res, err := inventory.GetItem(c.Context, cl, h)
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
