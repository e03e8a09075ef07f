package node

import (
	"runtime/debug"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// Version returns the software version, with the commit the binary was built from when
// the build recorded one: "0.1.0" or "0.1.0 (commit 0123456789ab+dirty)".
func Version() string {
	if rev := vcsRevision(); rev != "" {
		return protocol.SoftwareVersion + " (commit " + rev + ")"
	}
	return protocol.SoftwareVersion
}

// vcsRevision returns the short commit the binary was built from, with "+dirty" for a
// modified tree, or "" when the build carries no VCS information (go test, go run,
// -buildvcs=false).
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
