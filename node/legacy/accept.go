package legacy

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/witnet-p2p/witnet-p2p/session"
)

// Why the accept loop closes a connection (the "result" label of witnet_tcp_accepts_total).
const (
	refusedRate      = "accept_rate"
	refusedTotal     = "handshaking"
	refusedPerIP     = "handshaking_per_ip"
	refusedClosing   = "closing"
	refusedIcedIP    = "iced_ip"
	acceptedSession  = "session"
	refusalLogPeriod = time.Second // at most one Info line per refusal reason and period
)

// Backoff after a failed Accept (out of file descriptors, say), as net/http does.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// acceptLoop accepts connections until the listener closes.
func (t *Transport) acceptLoop(ln *net.TCPListener) {
	defer t.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			log.Warnw("accepting a plain-TCP connection failed; retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		t.admit(c)
	}
}

// admit applies the accept loop's bounds to c and starts an Inbound session on it. The
// inbound limit and the sybil rule are the manager's: Register refuses the session
// before any byte is read. Of the ice bucket only the escalated prefixes are consulted
// (Config.IcedIP), never the peer's socket address: an inbound peer's socket address is
// its ephemeral source port (PROTOCOL.md 13.11), which says nothing about its next
// connection, and the kernel may even hand the same port to an honest one; as in
// witnet-rust, icing an inbound peer's address only keeps it from being dialled.
func (t *Transport) admit(c *net.TCPConn) {
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	ip := remote.Addr()
	icedIP := t.cfg.IcedIP != nil && t.cfg.IcedIP(ip)
	t.mu.Lock()
	var why string
	switch {
	case t.closed:
		why = refusedClosing
	case icedIP:
		why = refusedIcedIP
	case !t.takeToken():
		why = refusedRate
	case t.handshaking >= t.cfg.Bounds.MaxHandshaking:
		why = refusedTotal
	case t.perIP[ip] >= t.cfg.Bounds.MaxHandshakingPerIP:
		why = refusedPerIP
	default:
		t.handshaking++
		t.perIP[ip]++
	}
	t.mu.Unlock()
	if why != "" {
		t.refuse(c, remote, why)
		return
	}
	t.m.accepts.WithLabelValues(acceptedSession).Inc()
	s, _ := t.newSession(c, remote, session.Inbound, func() { t.releaseSlot(ip) })
	s.Start()
}

// takeToken takes one token of the accept-rate bucket; t.mu must be held.
func (t *Transport) takeToken() bool {
	b := &t.cfg.Bounds
	if b.AcceptRate < 0 {
		return true
	}
	now := t.clock.Now()
	if el := now.Sub(t.refilled); el > 0 {
		t.tokens = min(float64(b.AcceptBurst), t.tokens+el.Seconds()*b.AcceptRate)
		t.refilled = now
	}
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

// releaseSlot frees the handshake slot of a connection from ip.
func (t *Transport) releaseSlot(ip netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handshaking--
	if n := t.perIP[ip]; n > 1 {
		t.perIP[ip] = n - 1
	} else {
		delete(t.perIP, ip)
	}
}

// Handshaking returns the number of accepted connections whose session has not
// consolidated or ended yet.
func (t *Transport) Handshaking() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.handshaking
}

// refuse closes a connection the accept loop does not take, counts it and logs it: at
// Debug each time, at Info at most once per reason and refusalLogPeriod, so that a flood
// cannot flood the log.
func (t *Transport) refuse(c *net.TCPConn, remote netip.AddrPort, why string) {
	_ = c.SetLinger(0)
	_ = c.Close()
	t.m.accepts.WithLabelValues(why).Inc()
	now := t.clock.Now()
	t.mu.Lock()
	info := now.Sub(t.lastLog[why]) >= refusalLogPeriod
	if info {
		t.lastLog[why] = now
	}
	t.mu.Unlock()
	if info {
		log.Infow("plain-TCP connection refused", "remote", remote, "transport", session.TransportTCP, "bound", why)
	} else {
		log.Debugw("plain-TCP connection refused", "remote", remote, "transport", session.TransportTCP, "bound", why)
	}
}
