package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// versionCommand prints the software version and how the binary was built.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of witnet-p2p and of the Go toolchain that built it",
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
	s := "witnet-p2p " + protocol.SoftwareVersion + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if rev := vcsRevision(); rev != "" {
		s += ", commit " + rev
	}
	return s + ")"
}

// vcsRevision returns the short commit the binary was built from, with "+dirty" for a
// modified tree, or "" when the build carries no VCS information (go test, go run).
func vcsRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
