package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node"
)

// Devnet settings: periods short enough to watch the network form in seconds.
const (
	devnetMaxNodes        = 64
	devnetBootstrapPeriod = time.Second
	devnetDiscoveryPeriod = 2 * time.Second
	devnetFeelerPeriod    = 500 * time.Millisecond
	devnetRefresh         = time.Second
)

// devnetCommand runs N nodes in this process, bootstrapped from the first.
func devnetCommand() *cli.Command {
	return &cli.Command{
		Name:  "devnet",
		Usage: "run N nodes on 127.0.0.1 in one process, each bootstrapped from the first, with a live table",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Aliases: []string{"n"}, Value: 4, Usage: "number of nodes (`N`, 2..64)"},
			&cli.StringFlag{Name: flagDataDir, Usage: "keep the nodes' data under `DIR`/node-<i> (default: a temporary directory removed at exit)"},
			&cli.IntFlag{Name: "base-port", Usage: "node i listens on TCP `PORT`+i (default: free ports)"},
			&cli.StringFlag{Name: flagRPCAddr, Value: "127.0.0.1:0", Usage: "JSON-RPC `HOST:PORT` of node 1 (port 0: a free one; \"off\" disables)"},
			&cli.DurationFlag{Name: "duration", Usage: "stop after `PERIOD` (default: at Ctrl-C)"},
			&cli.StringFlag{Name: flagLogLevel, Value: "error", Usage: "`LEVEL` of the witnet/* loggers (they share the terminal with the table)"},
		},
		OnUsageError: flagError,
		Action:       oneLineErrors(runDevnet),
	}
}

func runDevnet(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("devnet takes no arguments, got %q", c.Args().First())
	}
	count := c.Int("nodes")
	if count < 2 || count > devnetMaxNodes {
		return fmt.Errorf("--nodes %d: want 2..%d", count, devnetMaxNodes)
	}
	basePort := c.Int("base-port")
	if basePort < 0 || basePort+count > 65535 {
		return fmt.Errorf("--base-port %d: ports %d..%d do not fit", basePort, basePort+1, basePort+count)
	}
	if err := setupLogging(c.String(flagLogLevel)); err != nil {
		return err
	}
	root := c.String(flagDataDir)
	if root == "" {
		tmp, err := os.MkdirTemp("", "witnet-p2p-devnet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	rpcAddr := c.String(flagRPCAddr)
	if rpcAddr == "off" {
		rpcAddr = ""
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if d := c.Duration("duration"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}

	nodes := make([]*node.Node, 0, count)
	defer func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			_ = nodes[i].Close()
		}
	}()
	for i := range count {
		port := 0
		if basePort > 0 {
			port = basePort + i + 1
		}
		opts := []node.Option{
			node.WithDataDir(filepath.Join(root, fmt.Sprintf("node-%d", i+1))),
			node.WithListenAddrs(ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))),
			node.WithPeriods(devnetBootstrapPeriod, devnetDiscoveryPeriod, devnetFeelerPeriod),
			node.WithLibp2pMetrics(false),
			node.WithRPCAddr(""),
		}
		if i == 0 {
			opts = append(opts, node.WithRPCAddr(rpcAddr))
		} else {
			opts = append(opts, node.WithBootstrap(nodes[0].Addrs()[0]))
		}
		n, err := node.New(ctx, opts...)
		if err != nil {
			return fmt.Errorf("devnet node %d: %w", i+1, err)
		}
		nodes = append(nodes, n)
	}

	w := c.App.Writer
	header := fmt.Sprintf("devnet: %d nodes on 127.0.0.1, bootstrapped from node 1 (%s)\n", count, nodes[0].Addrs()[0])
	if a := nodes[0].RPCAddr(); a != nil {
		header += fmt.Sprintf("node 1 JSON-RPC: %s  (try: witnet-p2p peers --rpc-addr %s)\n", a, a)
	}
	header += "Ctrl-C stops.\n\n"
	redraw := false
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		redraw = true
	} else {
		fmt.Fprint(w, header)
	}
	tick := time.NewTicker(devnetRefresh)
	defer tick.Stop()
	for {
		if redraw {
			fmt.Fprint(w, "\033[H\033[2J"+header)
		} else {
			fmt.Fprintf(w, "-- %s\n", time.Now().Format(time.TimeOnly))
		}
		if err := devnetTable(w, nodes); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "devnet stopping")
			return nil
		case <-tick.C:
		}
	}
}

// devnetTable prints one row per node: sessions, address book and message counts.
func devnetTable(w io.Writer, nodes []*node.Node) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NODE\tPEER ID\tOUT\tIN\tNEW\tTRIED\tICE\tMSGS IN\tMSGS OUT\t")
	for i, n := range nodes {
		s := n.Manager().NumSessions()
		newN, triedN, iceN := n.Book().Counts()
		st := n.Traffic()
		var in, out uint64
		for k := range st.MessagesIn {
			in += st.MessagesIn[k]
			out += st.MessagesOut[k]
		}
		id := n.ID().String()
		fmt.Fprintf(tw, "%d\t…%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", i+1, id[len(id)-8:],
			s.OutboundConsolidated, s.InboundConsolidated, newN, triedN, iceN, in, out)
	}
	return tw.Flush()
}
