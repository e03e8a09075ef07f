package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node"
)

// versionCommand prints the software version and how the binary was built.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of witnet-p2p and of the Go toolchain that built it (also --version, -v)",
		Action: oneLineErrors(func(c *cli.Context) error {
			if c.NArg() != 0 {
				return fmt.Errorf("version takes no arguments, got %d", c.NArg())
			}
			_, err := fmt.Fprintln(c.App.Writer, versionString())
			return err
		}),
	}
}

// versionString is "witnet-p2p <version> (<go version> <os>/<arch>[, commit <rev>])".
func versionString() string {
	return "witnet-p2p " + node.Version() + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}

// printVersion is the app's --version / -v: the same line as the version command.
func printVersion(c *cli.Context) { fmt.Fprintln(c.App.Writer, versionString()) }
