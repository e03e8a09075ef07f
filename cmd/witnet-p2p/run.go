package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/witnet-p2p/witnet-p2p/node"
)

// bootstrapFileWait bounds how long run waits for --bootstrap-file to appear (in a
// container network, the node that writes it may start at the same time).
const bootstrapFileWait = 60 * time.Second

// bootstrapFilePoll is how often run looks for --bootstrap-file while waiting.
const bootstrapFilePoll = 250 * time.Millisecond

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
	if path := c.String(flagBootstrapFile); path != "" {
		addrs, err := readBootstrapFile(ctx, path, bootstrapFileWait)
		if err != nil {
			return err
		}
		opts = append(opts, node.WithBootstrap(addrs...))
	}
	n, err := node.New(ctx, opts...)
	if err != nil {
		return err
	}
	if path := c.String(flagAddrsFile); path != "" {
		if err := writeAddrsFile(path, shareable(n.Addrs())); err != nil {
			_ = n.Close()
			return err
		}
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

// writeAddrsFile writes addrs, one per line, to path, atomically (a reader never sees a
// partial file), readable by other users: it holds no secret.
func writeAddrsFile(path string, addrs []ma.Multiaddr) error {
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.String() + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("--%s: %w", flagAddrsFile, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.WriteString(b.String())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("--%s: %w", flagAddrsFile, err)
	}
	return nil
}

// shareable drops loopback addresses when there are others: another host (or container)
// dialling 127.0.0.1 would reach itself.
func shareable(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if !manet.IsIPLoopback(a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return addrs
	}
	return out
}

// readBootstrapFile reads the multiaddrs of path (one per line, each ending in
// /p2p/<id>; blank lines and lines starting with # are skipped), waiting up to wait for
// the file to exist.
func readBootstrapFile(ctx context.Context, path string, wait time.Duration) ([]ma.Multiaddr, error) {
	deadline := time.Now().Add(wait)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			var lines []string
			for _, l := range strings.Split(string(data), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					lines = append(lines, l)
				}
			}
			return parseAddrs(flagBootstrapFile, lines, true)
		}
		if !os.IsNotExist(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("--%s: %w", flagBootstrapFile, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(bootstrapFilePoll):
		}
	}
}
