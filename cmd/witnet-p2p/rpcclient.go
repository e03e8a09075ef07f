package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

// flagTimeout bounds each call of the commands that have it (inventory); the others use
// rpc.DefaultTimeout.
const flagTimeout = "timeout"

// rpcAddrFlag is the --rpc-addr flag of every command that talks to a running node.
func rpcAddrFlag() cli.Flag {
	return &cli.StringFlag{Name: flagRPCAddr, Aliases: []string{"rpc"}, EnvVars: envOf(flagRPCAddr), Value: rpc.DefaultAddr,
		Usage: "the node's JSON-RPC `HOST:PORT` (or http:// URL)"}
}

// rpcTokenFileFlag is the --rpc-token-file flag: of run, the token the listener requires;
// of the client commands, the token they send.
func rpcTokenFileFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: flagRPCTokenFile, EnvVars: envOf(flagRPCTokenFile), Usage: usage}
}

// clientFlags are the flags of the commands that print a node's answer as a table.
func clientFlags() []cli.Flag {
	return []cli.Flag{rpcAddrFlag(), clientTokenFlag(), &cli.BoolFlag{Name: "json", Usage: "print the raw JSON result"}}
}

func clientTokenFlag() cli.Flag {
	return rpcTokenFileFlag("send the bearer token in this `FILE` (the node's --rpc-token-file)")
}

// client calls the node at --rpc-addr with the token of --rpc-token-file, if any;
// --timeout, where the command has it, bounds each call (absent or 0: rpc.DefaultTimeout).
func client(c *cli.Context) (*rpc.Client, error) {
	token, err := readToken(c.String(flagRPCTokenFile))
	if err != nil {
		return nil, err
	}
	return rpc.NewClient(c.String(flagRPCAddr), c.Duration(flagTimeout)).WithToken(token), nil
}

// readToken reads a bearer token from path ("" : no token): the file's content without
// surrounding white space, which must not be empty.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagRPCTokenFile, err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("--%s %s: the file is empty", flagRPCTokenFile, path)
	}
	return token, nil
}

// clientCommand builds a command that calls method on a node and prints its result with
// table unless --json.
func clientCommand(name, method, usage string, table func(w io.Writer, raw json.RawMessage) error) *cli.Command {
	return &cli.Command{
		Name:         name,
		Usage:        usage,
		Flags:        clientFlags(),
		OnUsageError: flagError,
		Action: oneLineErrors(func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("%s takes no arguments, got %q", name, c.Args().First())
			}
			cl, err := client(c)
			if err != nil {
				return err
			}
			raw, err := cl.CallRaw(c.Context, method, nil)
			if err != nil {
				return err
			}
			return printResult(c, raw, table)
		}),
	}
}

// printResult writes raw as indented JSON with --json, else as a table.
func printResult(c *cli.Context, raw json.RawMessage, table func(io.Writer, json.RawMessage) error) error {
	if c.Bool("json") {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return table(c.App.Writer, raw)
}

func peersCommand() *cli.Command {
	return clientCommand("peers", rpc.MethodPeers, "list a running node's sessions (JSON-RPC peers)", func(w io.Writer, raw json.RawMessage) error {
		var list []rpc.Peer
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("peers: unexpected result: %w", err)
		}
		slices.SortFunc(list, func(a, b rpc.Peer) int {
			return cmp.Or(-cmp.Compare(a.Type, b.Type), cmp.Compare(a.Address, b.Address))
		})
		return printRows(w, []string{"TYPE", "ADDRESS"}, len(list), func(i int) []any { return []any{list[i].Type, list[i].Address} })
	})
}

func knownPeersCommand() *cli.Command {
	return clientCommand("known-peers", rpc.MethodKnownPeers, "list a running node's address book (JSON-RPC knownPeers)", func(w io.Writer, raw json.RawMessage) error {
		var list []rpc.KnownPeer
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("known-peers: unexpected result: %w", err)
		}
		slices.SortFunc(list, func(a, b rpc.KnownPeer) int {
			return cmp.Or(-cmp.Compare(a.Type, b.Type), cmp.Compare(a.Address, b.Address))
		})
		return printRows(w, []string{"BUCKET", "ADDRESS"}, len(list), func(i int) []any { return []any{list[i].Type, list[i].Address} })
	})
}

func statsCommand() *cli.Command {
	return clientCommand("stats", rpc.MethodNodeStats, "show a running node's counters (JSON-RPC nodeStats)", func(w io.Writer, raw json.RawMessage) error {
		var s rpc.NodeStats
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("stats: unexpected result: %w", err)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "peer ID\t%s\n", s.PeerID)
		fmt.Fprintf(tw, "uptime\t%s\n", time.Duration(s.UptimeSeconds)*time.Second)
		fmt.Fprintf(tw, "outbound sessions\t%d consolidated, %d in handshake\n", s.Outbound.Consolidated, s.Outbound.Unconsolidated)
		fmt.Fprintf(tw, "inbound sessions\t%d consolidated, %d in handshake\n", s.Inbound.Consolidated, s.Inbound.Unconsolidated)
		fmt.Fprintf(tw, "feelers\t%d\n", s.Feeler)
		fmt.Fprintf(tw, "messages in / out\t%d / %d\n", s.MessagesIn, s.MessagesOut)
		fmt.Fprintf(tw, "bytes in / out\t%d / %d\n", s.BytesIn, s.BytesOut)
		fmt.Fprintf(tw, "known peers\t%d new, %d tried, %d iced\n", s.KnownPeers.New, s.KnownPeers.Tried, s.KnownPeers.Ice)
		fmt.Fprintf(tw, "version\t%s\n", s.Version)
		fmt.Fprintf(tw, "data directory\t%s\n", s.DataDir)
		fmt.Fprintf(tw, "reachability\t%s\n", s.Reachability)
		list := func(title string, addrs []string) {
			if len(addrs) == 0 {
				fmt.Fprintf(tw, "%s\t(none)\n", title)
			}
			for i, a := range addrs {
				if i > 0 {
					title = ""
				}
				fmt.Fprintf(tw, "%s\t%s\n", title, a)
			}
		}
		list("listening on", s.ListenAddresses)
		list("addresses", s.Addresses)
		if c := s.Consensus; c != nil && c.Majority != nil {
			fmt.Fprintf(tw, "beacon consensus\tepoch %d (%s): block %d %.16s, %d of %d slots agree, synced %t\n", c.Epoch, c.Transport, c.Majority.BlockEpoch, c.Majority.BlockHash, c.Agreeing, c.Slots, c.Synced)
		} else if c != nil {
			fmt.Fprintf(tw, "beacon consensus\tepoch %d (%s): none (%d beacons, %d slots)\n", c.Epoch, c.Transport, c.Beacons, c.Slots)
		}
		if b := s.Beacon; b != nil {
			fmt.Fprintf(tw, "our beacon\tblock %d %.16s, superblock %d %.16s\n", b.BlockEpoch, b.BlockHash, b.SuperblockEpoch, b.SuperblockHash)
		}
		return tw.Flush()
	})
}

func clearPeersCommand() *cli.Command {
	return clientCommand("clear-peers", rpc.MethodClearPeers, "empty a running node's address book (JSON-RPC clearPeers)", func(w io.Writer, _ json.RawMessage) error {
		_, err := fmt.Fprintln(w, "address book cleared")
		return err
	})
}

func initializePeersCommand() *cli.Command {
	return clientCommand("initialize-peers", rpc.MethodInitializePeers,
		"reset a running node's address book to its --bootstrap peers and drop every session (JSON-RPC initializePeers)",
		func(w io.Writer, _ json.RawMessage) error {
			_, err := fmt.Fprintln(w, "address book reset to the bootstrap peers; sessions dropped")
			return err
		})
}

// healthCommand checks GET /health of a running node: exit 0 while it serves, 1
// otherwise. It is the container image's health check: the address comes from
// WITNET_P2P_RPC_ADDR like the node's, and an address on every interface (0.0.0.0, ::)
// is reached on loopback.
func healthCommand() *cli.Command {
	return &cli.Command{
		Name:         "health",
		Usage:        "check that a running node is healthy (GET /health): exit 0 if it is, 1 if not",
		Flags:        []cli.Flag{rpcAddrFlag()},
		OnUsageError: flagError,
		Action: oneLineErrors(func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("health takes no arguments, got %q", c.Args().First())
			}
			addr := c.String(flagRPCAddr)
			if addr == "off" {
				return fmt.Errorf("health: the node's JSON-RPC listener is off (--%s off)", flagRPCAddr)
			}
			if err := rpc.NewClient(loopbackFor(addr), c.Duration(flagTimeout)).Health(c.Context); err != nil {
				return err
			}
			_, err := fmt.Fprintln(c.App.Writer, "ok")
			return err
		}),
	}
}

// loopbackFor turns a listen address on every interface (0.0.0.0:P, [::]:P, :P) into
// the loopback address a client can dial; other addresses are returned as they are.
func loopbackFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		return net.JoinHostPort("127.0.0.1", port)
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		return net.JoinHostPort("127.0.0.1", port)
	case ip != nil && ip.IsUnspecified():
		return net.JoinHostPort("::1", port)
	}
	return addr
}

func addPeersCommand() *cli.Command {
	return &cli.Command{
		Name:         "add-peers",
		Usage:        "add peers to a running node's address book (JSON-RPC addPeers)",
		ArgsUsage:    "MULTIADDR|IP:PORT...",
		Flags:        clientFlags(),
		OnUsageError: flagError,
		Action: oneLineErrors(func(c *cli.Context) error {
			if c.NArg() == 0 {
				return fmt.Errorf("add-peers needs at least one multiaddr ending in /p2p/<peer id>, or IP:PORT of a witnet-rust peer")
			}
			addrs := c.Args().Slice()
			for _, a := range addrs { // fail before calling the node
				if err := rpc.CheckPeerString(a); err != nil {
					return fmt.Errorf("add-peers: %w", err)
				}
			}
			cl, err := client(c)
			if err != nil {
				return err
			}
			raw, err := cl.CallRaw(c.Context, rpc.MethodAddPeers, addrs)
			if err != nil {
				return err
			}
			return printResult(c, raw, func(w io.Writer, _ json.RawMessage) error {
				_, err := fmt.Fprintf(w, "address book updated with %d addresses\n", len(addrs))
				return err
			})
		}),
	}
}

// printRows prints a header and n rows aligned in columns, or "(none)".
func printRows(w io.Writer, header []string, n int, row func(i int) []any) error {
	if n == 0 {
		_, err := fmt.Fprintln(w, "(none)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, h := range header {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, h)
	}
	fmt.Fprintln(tw)
	for i := range n {
		for j, v := range row(i) {
			if j > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, v)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
