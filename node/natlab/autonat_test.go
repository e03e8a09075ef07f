//go:build linux

package natlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	ma "github.com/multiformats/go-multiaddr"
)

// Environment of the AutoNAT helper process.
const (
	envHelper = "WITNET_NATLAB_AUTONAT_HELPER" // the server's multiaddr, /p2p included
	envTarget = "WITNET_NATLAB_AUTONAT_TARGET" // the address to ask it to dial
)

// testAutoNATForeignAddress: a host asks a public node to dial back an address that is
// not its own (another public node's, which would answer). AutoNAT v1 dials only the
// requester's own IP (so the check fails: nothing listens there), and AutoNAT v2 asks
// for 30-100 kB of dial data first (amplification protection), which a requester that
// will not pay gets no dial for. The
// requester runs in a namespace of its own: this test binary, started there again.
func (w *world) testAutoNATForeignAddress(t *testing.T) {
	w = w.with(t)
	h := w.l.PublicHost("x")
	cmd := exec.Command("nsenter", "--net="+nsPath(h.NS), os.Args[0], "-test.run=^TestAutoNATHelper$", "-test.v")
	cmd.Env = append(os.Environ(), envHelper+"="+w.pubs[0].Addr("tcp"), envTarget+"="+w.pubs[1].Addr("tcp"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("AutoNAT helper: %v\n%s", err, out.String())
	}
	results := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if i := strings.Index(line, "RESULT "); i >= 0 {
			f := strings.SplitN(line[i+len("RESULT "):], " ", 2)
			results[f[0]] = f[1]
		}
	}
	t.Logf("AutoNAT asked to dial %s: v1 %q; v2 %q", w.pubs[1].Addr("tcp"), results["v1"], results["v2"])
	if !strings.HasPrefix(results["v1"], "dial-error") {
		t.Errorf("AutoNAT v1 dialled back another host's address (want a dial error at the requester's IP): %q\n%s", results["v1"], out.String())
	}
	if !strings.HasPrefix(results["v2"], "dial-data-requested") {
		t.Errorf("AutoNAT v2 did not ask for dial data before dialling another host's address: %q\n%s", results["v2"], out.String())
	}
}

// TestAutoNATHelper is the requester of testAutoNATForeignAddress; it runs only there.
func TestAutoNATHelper(t *testing.T) {
	server := os.Getenv(envHelper)
	if server == "" {
		t.Skip("helper of the NAT lab's AutoNAT case")
	}
	srv, err := peer.AddrInfoFromString(server)
	if err != nil {
		t.Fatal(err)
	}
	target := ma.StringCast(strings.Split(os.Getenv(envTarget), "/p2p/")[0])
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *srv); err != nil {
		t.Fatal(err)
	}

	cli := autonat.NewAutoNATClient(h, func() []ma.Multiaddr { return []ma.Multiaddr{target} }, nil)
	switch err := cli.DialBack(ctx, srv.ID); {
	case err == nil:
		fmt.Println("RESULT v1 ok")
	case autonat.IsDialError(err):
		fmt.Println("RESULT v1 dial-error", err)
	default:
		fmt.Println("RESULT v1 other", err)
	}

	dialer, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer dialer.Close()
	an, err := autonatv2.New(dialer)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Start(h); err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	// The client picks its server among the peers that identify told speak v2.
	h.Network().ClosePeer(srv.ID)
	if err := h.Connect(ctx, *srv); err != nil {
		t.Fatal(err)
	}
	var res autonatv2.Result
	for {
		res, err = an.GetReachability(ctx, []autonatv2.Request{{Addr: target, SendDialData: false}})
		if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "no peers") {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond): // waiting for identify to list the server
		}
	}
	switch {
	case err != nil && strings.Contains(err.Error(), "low priority addr"):
		// The server asked for dial data before dialling an IP that is not ours.
		fmt.Println("RESULT v2 dial-data-requested", err)
	case err != nil:
		fmt.Println("RESULT v2 error", err)
	default:
		fmt.Println("RESULT v2 answered", res.Reachability, "all_refused", res.AllAddrsRefused)
	}
}
