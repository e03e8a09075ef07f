package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Listen conflicts. libp2p's TCP transport listens with SO_REUSEPORT (so that its dials
// can leave from the listening port, which NAT hole punching needs), and the kernel then
// lets a second node bind the same port and splits the incoming connections between the
// two; and libp2p starts as soon as one of several listen addresses works. Either way a
// node runs without a listener the operator asked for, with nothing but a libp2p warning
// to say so. So the node first binds each fixed listen address itself, without
// SO_REUSEPORT, and releases it at once (which fails when anyone listens there), and after
// starting checks that the host listens on every address given. Dials keep reusing the
// port.

// ErrAddrInUse is matched by the ListenError of a listen address that another process
// (or another node in this process) already listens on.
var ErrAddrInUse = errors.New("address already in use by another process")

// ListenError is why the node did not start on a listen address.
type ListenError struct {
	// Addr is the listen address as configured.
	Addr ma.Multiaddr
	// Err is the cause: ErrAddrInUse, or the operating system's error.
	Err error
}

// Error is one line: "listen /ip4/0.0.0.0/tcp/21337: address already in use by another
// process".
func (e *ListenError) Error() string { return fmt.Sprintf("listen %s: %v", e.Addr, e.Err) }

// Unwrap returns the cause.
func (e *ListenError) Unwrap() error { return e.Err }

// probeListenAddrs binds every TCP and UDP listen address with a fixed port, without
// SO_REUSEPORT, and closes it again. Port 0 (any free port) and addresses without an IP
// and port are left to libp2p.
func probeListenAddrs(addrs []ma.Multiaddr) error {
	for _, a := range addrs {
		netw, hostport, ok := fixedPort(a)
		if !ok {
			continue
		}
		var err error
		switch netw {
		case "tcp", "tcp4", "tcp6":
			var l net.Listener
			if l, err = net.Listen(netw, hostport); err == nil {
				err = l.Close()
			}
		case "udp", "udp4", "udp6":
			var c net.PacketConn
			if c, err = net.ListenPacket(netw, hostport); err == nil {
				err = c.Close()
			}
		}
		if err != nil {
			return listenError(a, err)
		}
	}
	return nil
}

// listenError describes a failed bind of a: an address in use becomes ErrAddrInUse, any
// other failure keeps the operating system's words.
func listenError(a ma.Multiaddr, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return &ListenError{Addr: a, Err: ErrAddrInUse}
	}
	// Keep the cause only ("cannot assign requested address"): the address is ours.
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	return &ListenError{Addr: a, Err: err}
}

// fixedPort returns the network and host:port of a TCP or UDP listen address with a
// non-zero port.
func fixedPort(a ma.Multiaddr) (netw, hostport string, ok bool) {
	netw, hostport, err := manet.DialArgs(a)
	if err != nil {
		return "", "", false
	}
	_, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "0" {
		return "", "", false
	}
	return netw, hostport, true
}

// checkListening reports the first listen address the host does not listen on: libp2p
// starts when at least one of them works and only logs the others.
func checkListening(want, got []ma.Multiaddr) error {
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g ma.Multiaddr) bool { return listenMatches(w, g) }) {
			return &ListenError{Addr: w, Err: errors.New("libp2p could not listen on it (its log says why)")}
		}
	}
	return nil
}

// listenMatches reports whether the host's listen address got serves the configured
// address want: the same protocols and IP, and the same port unless want's is 0.
func listenMatches(want, got ma.Multiaddr) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Code() != g.Code() {
			return false
		}
		if (w.Code() == ma.P_TCP || w.Code() == ma.P_UDP) && w.Value() == "0" {
			continue
		}
		if !w.Equal(&g) {
			return false
		}
	}
	return true
}
