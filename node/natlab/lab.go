//go:build linux

package natlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvLab names the environment variable that turns the lab on.
const EnvLab = "WITNET_NATLAB"

// internet is the lab's public address space. Each public host and router gets its own
// /18 of it, block by block.
var internet = netip.MustParsePrefix("7.0.0.0/8")

// blockBits is the prefix length of one host's block: the sybil rule's default range.
const blockBits = 18

// Require skips the test unless the lab is turned on (WITNET_NATLAB set); once it is on,
// a missing requirement fails the test, since whoever turned it on expects it to run.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvLab) == "" {
		t.Skipf("NAT lab off: set %s=1 to run it (needs root, iproute2, iptables and nsenter; .ci/run does)", EnvLab)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("NAT lab needs root (network namespaces, iptables); %s is set", EnvLab)
	}
	for _, tool := range []string{"ip", "iptables", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("NAT lab needs %s (Debian: apt-get install -y iproute2 iptables util-linux)", tool)
		}
	}
}

// Lab is one running lab, seen from one test: its methods fail that test on error, and
// what they create is removed when that test ends, whether it passed or not. With gives
// the same lab to a subtest.
type Lab struct {
	t testing.TB
	*lab
}

// lab is the state a lab's tests share.
type lab struct {
	prefix string // of every namespace name, unique per lab
	dir    string // node data directories and logs
	bin    string // the witnet-p2p binary
	hub    string // the namespace with the bridge

	mu     sync.Mutex
	blocks int // /18 blocks handed out
	links  int // veth pairs made on the bridge
	lans   int // routers made
}

// With returns the lab seen from t, a subtest of the lab's test: what it creates goes
// when t ends.
func (l *Lab) With(t testing.TB) *Lab { return &Lab{t: t, lab: l.lab} }

// New builds the lab's bridge and the witnet-p2p binary.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	l := &Lab{t: t, lab: &lab{prefix: "wnl" + hex.EncodeToString(b[:]), dir: t.TempDir()}}
	l.bin = buildBinary(t)
	l.hub = l.netns("hub")
	l.ip("-n", l.hub, "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.hub, "link", "set", "br0", "up")
	return l
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// buildBinary builds cmd/witnet-p2p once per test process, for all its labs; RemoveBinary
// removes it.
func buildBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "witnet-natlab-bin")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "witnet-p2p")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/witnet-p2p/witnet-p2p/cmd/witnet-p2p").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// RemoveBinary removes the binary buildBinary made, if any; TestMain calls it once the
// tests are done.
func RemoveBinary() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// run runs a command, failing the test with its output if it fails.
func (l *Lab) run(name string, args ...string) {
	l.t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}

func (l *Lab) ip(args ...string) { l.t.Helper(); l.run("ip", args...) }

// in runs a command inside namespace ns.
func (l *Lab) in(ns string, args ...string) {
	l.t.Helper()
	l.run("nsenter", append([]string{"--net=" + nsPath(ns)}, args...)...)
}

func nsPath(ns string) string { return "/var/run/netns/" + ns }

// netns creates a namespace named after the lab and name, with loopback up, and deletes
// it when the test ends (registered now, so it happens even if the test fails next).
func (l *Lab) netns(name string) string {
	l.t.Helper()
	ns := l.prefix + "-" + name
	l.ip("netns", "add", ns)
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			l.t.Errorf("NAT lab cleanup: ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	l.ip("-n", ns, "link", "set", "lo", "up")
	return ns
}

// block hands out the next /18 of the lab's Internet and returns its first host address.
func (l *Lab) block() netip.Prefix {
	l.mu.Lock()
	i := l.blocks
	l.blocks++
	l.mu.Unlock()
	base := internet.Addr().As4()
	off := uint32(i) << (32 - blockBits)
	v := uint32(base[0])<<24 | off
	if v>>24 != uint32(base[0]) {
		l.t.Fatal("NAT lab: out of /18 blocks")
	}
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v) + 1})
	return netip.PrefixFrom(a, blockBits)
}

// plug connects namespace ns to the bridge through a veth pair made in the hub (so the
// host's namespace never sees it): the end in ns is named ifname and gets addr, with a
// route to the whole lab Internet.
func (l *Lab) plug(ns, ifname string, addr netip.Prefix) {
	l.t.Helper()
	l.mu.Lock()
	l.links++
	port := fmt.Sprintf("v%d", l.links)
	l.mu.Unlock()
	l.ip("-n", l.hub, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
	l.ip("-n", l.hub, "link", "set", port, "master", "br0", "up")
	l.ip("-n", ns, "addr", "add", addr.String(), "dev", ifname)
	l.ip("-n", ns, "link", "set", ifname, "up")
	l.ip("-n", ns, "route", "add", internet.String(), "dev", ifname)
}

// Host is a machine of the lab.
type Host struct {
	// NS is its namespace.
	NS string
	// IP is its address: public for a public host, on the router's LAN for a private one.
	IP netip.Addr
	// Block is the /18 of a public host; the zero Prefix for a private one.
	Block netip.Prefix
	// Router is the router a private host is behind; nil for a public one.
	Router *Router
}

// PublicHost adds a host on the bridge with a public address in a /18 of its own.
func (l *Lab) PublicHost(name string) *Host {
	l.t.Helper()
	ns := l.netns(name)
	b := l.block()
	l.plug(ns, "eth0", b)
	return &Host{NS: ns, IP: b.Addr(), Block: b.Masked()}
}

// Router is a home router: WAN on the bridge, one private host behind it.
type Router struct {
	l *Lab
	// NS is its namespace.
	NS string
	// WAN is its public address, in a /18 of its own.
	WAN netip.Addr
	// Symmetric says it picks a random port for each mapping (MASQUERADE
	// --random-fully) instead of keeping the host's source port.
	Symmetric bool
	lan       int
}

// NewRouter adds a router that masquerades its LAN behind its WAN address and drops
// unsolicited WAN packets (conntrack NEW or INVALID), without answering them.
func (l *Lab) NewRouter(name string, symmetric bool) *Router {
	l.t.Helper()
	ns := l.netns(name)
	b := l.block()
	l.plug(ns, "wan", b)
	l.mu.Lock()
	l.lans++
	lan := l.lans
	l.mu.Unlock()
	r := &Router{l: l, NS: ns, WAN: b.Addr(), Symmetric: symmetric, lan: lan}
	l.in(ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	masq := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	if symmetric {
		masq = append(masq, "--random-fully")
	}
	l.in(ns, masq...)
	l.in(ns, "iptables", "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP")
	l.in(ns, "iptables", "-A", "FORWARD", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP")
	return r
}

// lanAddr returns the router's LAN address (.1) or its host's (.2).
func (r *Router) lanAddr(host byte) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(r.lan), host}), 24)
}

// PrivateHost adds the host behind r, routing the lab's Internet through r.
func (l *Lab) PrivateHost(name string, r *Router) *Host {
	l.t.Helper()
	ns := l.netns(name)
	l.ip("-n", r.NS, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.ip("-n", r.NS, "addr", "add", r.lanAddr(1).String(), "dev", "lan")
	l.ip("-n", r.NS, "link", "set", "lan", "up")
	addr := r.lanAddr(2)
	l.ip("-n", ns, "addr", "add", addr.String(), "dev", "eth0")
	l.ip("-n", ns, "link", "set", "eth0", "up")
	l.ip("-n", ns, "route", "add", internet.String(), "via", r.lanAddr(1).Addr().String())
	return &Host{NS: ns, IP: addr.Addr(), Router: r}
}

// CutOff makes r drop what its host sends to the given blocks (the public hosts, say),
// as if those links had failed; connections already open stall.
func (r *Router) CutOff(blocks ...netip.Prefix) {
	r.l.t.Helper()
	for _, b := range blocks {
		r.l.in(r.NS, "iptables", "-I", "FORWARD", "-i", "lan", "-d", b.String(), "-j", "DROP")
	}
}

// keepLog shows the end of n's log if the test failed, and copies the whole log to
// $WITNET_NATLAB_LOGS if that is set.
func (l *Lab) keepLog(n *Node) {
	if l.t.Failed() {
		l.t.Logf("--- log of %s (%s), last lines:\n%s", n.Name, n.ID, tail(n.logPath, 60))
	}
	if dir := os.Getenv("WITNET_NATLAB_LOGS"); dir != "" {
		if data, err := os.ReadFile(n.logPath); err == nil {
			_ = os.WriteFile(filepath.Join(dir, l.prefix+"-"+n.Name+".log"), data, 0o644)
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Eventually checks cond every 250 ms until it holds, failing the test after timeout
// with the last explanation cond gave.
func (l *Lab) Eventually(timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	l.t.Helper()
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		select {
		case <-deadline.C:
			if ok, why = cond(); ok {
				return time.Since(start)
			}
			l.t.Fatalf("%s: not within %v: %s", what, timeout, why)
		case <-tick.C:
		}
	}
}
