//go:build linux

package natlab

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

// publicNodes is how many public nodes a lab runs: an observed address counts once four
// distinct peers saw it, and one more keeps that true if one is slow.
const publicNodes = 5

// world is a lab with its public nodes up and found public.
type world struct {
	l      *Lab
	pubs   []*Node
	blocks []netip.Prefix
}

// startWorld starts the public nodes, each bootstrapped from the first, and waits until
// AutoNAT found every one of them public (which also starts their relay service).
func startWorld(t *testing.T) *world {
	l := New(t)
	w := &world{l: l}
	for i := range publicNodes {
		h := l.PublicHost(fmt.Sprintf("p%d", i))
		var cfg NodeConfig
		if i > 0 {
			cfg.Bootstrap = []string{w.pubs[0].Addr("tcp")}
		}
		w.pubs = append(w.pubs, l.StartNode(fmt.Sprintf("p%d", i), h, cfg))
		w.blocks = append(w.blocks, h.Block)
	}
	took := l.Eventually(3*time.Minute, "public nodes report public", func() (bool, string) {
		for _, p := range w.pubs {
			if ok, why := reachability(p, "public"); !ok {
				return false, why
			}
		}
		return true, ""
	})
	t.Logf("%d public nodes public after %v", publicNodes, took.Round(time.Second))
	return w
}

// bootstrap returns the public nodes' addresses on transport ("tcp", "udp" or "" for
// both).
func (w *world) bootstrap(transport string) []string {
	var out []string
	for _, p := range w.pubs {
		if transport != "udp" {
			out = append(out, p.Addr("tcp"))
		}
		if transport != "tcp" {
			out = append(out, p.Addr("udp"))
		}
	}
	return out
}

func reachability(n *Node, want string) (bool, string) {
	st, err := n.Stats()
	if err != nil {
		return false, err.Error()
	}
	return st.Reachability == want, fmt.Sprintf("%s is %s", n.Name, st.Reachability)
}

// relayAddr returns n's relay address over transport ("tcp" or "udp"), or "".
func relayAddr(n *Node, transport string) (string, string) {
	st, err := n.Stats()
	if err != nil {
		return "", err.Error()
	}
	for _, a := range st.Addresses {
		if strings.Contains(a, "/p2p-circuit/") && strings.Contains(a, "/"+transport+"/") {
			return a, ""
		}
	}
	return "", fmt.Sprintf("%s (%s) announces %v", n.Name, st.Reachability, st.Addresses)
}

// with returns the world seen from subtest t: what t starts goes when t ends.
func (w *world) with(t *testing.T) *world {
	return &world{l: w.l.With(t), pubs: w.pubs, blocks: w.blocks}
}

// dialled are the extra flags of a private node the test has another one dial: no
// discovery rounds. Until the address book stops filing a NAT's mapping of a peer's port
// as that peer's address (a public node's feeler reuses the peer's own connection, issue
// 12's feeler fact, node/peers' part), such a node learns the dialling node's NAT address
// through Peers and dials it as a plain client while the hole punch runs; libp2p joins the
// two dials, both ends then speak TLS as clients, and the failed dial ices the dialler,
// whose relayed connections are then refused. Nothing else of the case needs discovery.
var dialled = []string{"--discovery-period", "0"}

// startPrivate starts a node behind a new router, bootstrapped from the public nodes (on
// transport: "tcp", "udp", or "" for both, which it then listens on) and from extra.
func (w *world) startPrivate(name string, symmetric bool, transport string, args []string, extra ...string) (*Node, string) {
	r := w.l.NewRouter("r"+name, symmetric)
	h := w.l.PrivateHost(name, r)
	cfg := NodeConfig{Bootstrap: append(w.bootstrap(transport), extra...), Args: args}
	switch transport {
	case "tcp":
		cfg.Listen = []string{ListenTCP}
	case "udp":
		cfg.Listen = []string{ListenQUIC}
	}
	return w.l.StartNode(name, h, cfg), transport
}

// waitRelayAddr waits until n is private and announces a relay address over transport.
func (w *world) waitRelayAddr(n *Node, transport string) string {
	var addr string
	w.l.Eventually(2*time.Minute, n.Name+" private with a relay address", func() (bool, string) {
		if ok, why := reachability(n, "private"); !ok {
			return false, why
		}
		var why string
		addr, why = relayAddr(n, transport)
		return addr != "", why
	})
	return addr
}

// session reports whether a has a consolidated session with b, and its address.
func session(a, b *Node) (bool, string) {
	ps, err := a.Peers()
	if err != nil {
		return false, err.Error()
	}
	for _, p := range ps {
		if strings.HasSuffix(p.Address, "/p2p/"+b.ID) {
			return true, p.Type + " " + p.Address
		}
	}
	return false, fmt.Sprintf("%s has %d sessions, none with %s", a.Name, len(ps), b.Name)
}

var txSeq atomic.Uint64

// relayTransaction submits a new transaction at a and waits until b holds it.
func relayTransaction(t *testing.T, l *Lab, a, b *Node) {
	t.Helper()
	raw := inventorytest.TxBytes(1000 + txSeq.Add(1))
	var res inventory.SubmitResult
	if err := a.Call(inventory.MethodInventory, map[string]string{"transaction": hex.EncodeToString(raw)}, &res); err != nil {
		t.Fatalf("submit at %s: %v", a.Name, err)
	}
	l.Eventually(30*time.Second, "transaction from "+a.Name+" reaches "+b.Name, func() (bool, string) {
		var got inventory.ItemResult
		if err := b.Call(inventory.MethodGetItem, []string{res.Hash}, &got); err != nil {
			return false, err.Error()
		}
		return got.Kind == "transaction", got.Kind
	})
}

func randomID(t *testing.T) string {
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func metricAtLeast(n *Node, min float64, name string, labels ...string) (bool, string) {
	v, err := n.Metric(name, labels...)
	if err != nil {
		return false, err.Error()
	}
	return v >= min, fmt.Sprintf("%s %s%v = %v", n.Name, name, labels, v)
}

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBinary()
	os.Exit(code)
}

// TestNATLab runs the lab's cases on one set of public nodes.
func TestNATLab(t *testing.T) {
	w := startWorld(t)
	t.Run("port-preserving NATs: direct session", w.testDirect)
	t.Run("symmetric NAT: no direct session, sessions kept", w.testSymmetric)
	t.Run("private peers found through Peers messages", w.testDiscovery)
	t.Run("AutoNAT dials back only the requester", w.testAutoNATForeignAddress)
}

// testDirect: two nodes behind port-preserving NATs, one dialling the other's relay
// address, end with a direct consolidated session; with the public nodes cut off, a
// transaction submitted at one reaches the other over it.
func (w *world) testDirect(t *testing.T) {
	w = w.with(t)
	l := w.l
	b, _ := w.startPrivate("b", false, "", dialled)
	bRelay := w.waitRelayAddr(b, "tcp")
	a, _ := w.startPrivate("a", false, "", nil, bRelay)
	took := l.Eventually(90*time.Second, "a and b in session", func() (bool, string) { return session(a, b) })
	_, how := session(a, b)
	t.Logf("a started, dialled b at %s, session %s after %v", bRelay, how, took.Round(time.Millisecond))
	l.Eventually(10*time.Second, "a counts the direct connection", func() (bool, string) {
		return metricAtLeast(a, 1, "witnet_nat_relayed_dials_total", `result="direct"`)
	})
	l.Eventually(2*time.Minute, "a reports private", func() (bool, string) { return reachability(a, "private") })

	a.Host.Router.CutOff(w.blocks...)
	b.Host.Router.CutOff(w.blocks...)
	relayTransaction(t, l, a, b)
}

// testSymmetric: behind a symmetric NAT no hole punch works; both nodes keep their
// sessions with the public nodes, the failure is counted, and no session runs over the
// relay.
func (w *world) testSymmetric(t *testing.T) {
	w = w.with(t)
	l := w.l
	d, _ := w.startPrivate("d", false, "", dialled)
	dRelay := w.waitRelayAddr(d, "tcp")
	c, _ := w.startPrivate("c", true, "", nil, dRelay)
	l.Eventually(2*time.Minute, "the failed hole punch counted", func() (bool, string) {
		if ok, why := metricAtLeast(c, 1, "witnet_nat_relayed_dials_total", `result="no_direct"`); !ok {
			return false, why
		}
		return metricAtLeast(d, 1, "witnet_nat_hole_punches_total", `side="initiator"`, `result="failed"`)
	})
	for _, pair := range [][2]*Node{{c, d}, {d, c}} {
		if ok, how := session(pair[0], pair[1]); ok {
			t.Errorf("%s has a session with %s behind a symmetric NAT: %s", pair[0].Name, pair[1].Name, how)
		}
	}
	for _, n := range []*Node{c, d} {
		st, err := n.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Outbound.Consolidated < publicNodes-1 {
			t.Errorf("%s kept %d outbound sessions, want at least %d", n.Name, st.Outbound.Consolidated, publicNodes-1)
		}
	}
	l.Eventually(2*time.Minute, "c reports private", func() (bool, string) { return reachability(c, "private") })
}

// testDiscovery: a node behind a NAT learns another private node's relay address from
// the public nodes' Peers replies (the peer announced it to them), reaches it, and ends
// with a direct session. It needs relay addresses in the address book.
func (w *world) testDiscovery(t *testing.T) {
	w = w.with(t)
	l := w.l
	// Probe the address book with the relay address of a peer that does not exist.
	probe := "/ip4/7.255.0.1/tcp/4001/p2p/" + randomID(t) + "/p2p-circuit/p2p/" + randomID(t)
	if err := w.pubs[publicNodes-1].Call(rpc.MethodAddPeers, []string{probe}, nil); err != nil {
		t.Skipf("the address book takes no relay address (addPeers %s: %v): relay addresses in node/peers (issue 12.5, address-book side) are missing", probe, err)
	}
	f, _ := w.startPrivate("f", false, "", dialled)
	w.waitRelayAddr(f, "tcp")
	e, _ := w.startPrivate("e", false, "", nil)
	took := l.Eventually(4*time.Minute, "e and f in session", func() (bool, string) {
		if ok, how := session(e, f); ok {
			return true, how
		}
		return session(f, e)
	})
	t.Logf("e found f through Peers and got a session after %v", took.Round(time.Second))
	e.Host.Router.CutOff(w.blocks...)
	f.Host.Router.CutOff(w.blocks...)
	relayTransaction(t, l, e, f)
}
