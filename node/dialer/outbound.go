package dialer

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// dialing is an outbound dial in flight.
type dialing struct {
	legacy bool
	group  netip.Prefix // zero when exempt from the netgroup bound
}

// outSession is an outbound session the dialer opened, until it ends.
type outSession struct {
	addr   peers.Addr // as dialled
	legacy bool
	group  netip.Prefix
	since  time.Time
}

// groupOf returns the netgroup a dial of a counts in, or the zero Prefix when a is exempt
// (loopback or private without Config.NetgroupLocal, or no IP endpoint).
func (d *Dialer) groupOf(a peers.Addr) netip.Prefix {
	ep, err := a.Endpoint()
	if err != nil {
		return netip.Prefix{}
	}
	return d.groupOfIP(ep.Addr())
}

// groupOfIP is groupOf for an IP.
func (d *Dialer) groupOfIP(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() || d.cfg.MaxPerNetgroup < 0 {
		return netip.Prefix{}
	}
	if s := peers.ScopeOf(ip); !d.cfg.NetgroupLocal && (s == peers.ScopeLoopback || s == peers.ScopePrivate) {
		return netip.Prefix{}
	}
	return peers.Netgroup(ip)
}

// groupCounts counts the outbound sessions and dials in flight per netgroup.
func (d *Dialer) groupCounts() map[netip.Prefix]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	counts := map[netip.Prefix]int{}
	for _, o := range d.out {
		if o.group.IsValid() {
			counts[o.group]++
		}
	}
	for _, x := range d.dialing {
		if x.group.IsValid() {
			counts[x.group]++
		}
	}
	return counts
}

// counts returns the outbound sessions the dialer opened and the dials in flight, of
// legacy or libp2p peers.
func (d *Dialer) counts(legacy bool) (sessions, inFlight int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.out {
		if o.legacy == legacy {
			sessions++
		}
	}
	for _, x := range d.dialing {
		if x.legacy == legacy {
			inFlight++
		}
	}
	return sessions, inFlight
}

// busy reports whether k has a dial or feeler in flight or an outbound session the
// dialer opened.
func (d *Dialer) busy(k peers.Key) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.dialing[k]; ok || d.feeling[k] {
		return true
	}
	for _, o := range d.out {
		if o.addr.Key() == k {
			return true
		}
	}
	return false
}

// dialOutbound dials a as an Outbound session in the background and follows the session
// until it ends. warn: a is operator-given (see dial).
func (d *Dialer) dialOutbound(a peers.Addr, group netip.Prefix, warn bool) {
	k := a.Key()
	d.mu.Lock()
	if _, busy := d.dialing[k]; busy {
		d.mu.Unlock()
		return
	}
	d.dialing[k] = dialing{legacy: a.IsLegacy(), group: group}
	d.mu.Unlock()
	done := func() {
		d.mu.Lock()
		delete(d.dialing, k)
		d.mu.Unlock()
	}
	if !d.spawn(func() {
		s, err := d.dial(a, session.Outbound, warn)
		if err != nil {
			done()
			return
		}
		if ip := s.Peer().IP; ip.IsValid() {
			group = d.groupOfIP(ip) // where it really is
		}
		o := &outSession{addr: a, legacy: a.IsLegacy(), group: group, since: d.cfg.Clock.Now()}
		d.mu.Lock()
		d.out[s] = o
		delete(d.dialing, k)
		d.mu.Unlock()
		select {
		case <-s.Done():
		case <-d.ctx.Done():
		}
		d.mu.Lock()
		delete(d.out, s)
		d.mu.Unlock()
	}) {
		done()
	}
}

// consolidated returns the consolidated outbound sessions the dialer opened.
func (d *Dialer) consolidated() map[*session.Session]*outSession {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[*session.Session]*outSession, len(d.out))
	for s, o := range d.out {
		if s.Status() == session.Consolidated {
			out[s] = o
		}
	}
	return out
}

// discoveryRound asks one random consolidated outbound peer for its peers (witnet-rust's
// anycast GetPeers). Session.GetPeers is used rather than a raw message so that the
// session expects the Peers reply.
func (d *Dialer) discoveryRound() {
	cons := d.consolidated()
	if len(cons) == 0 {
		return
	}
	list := make([]*session.Session, 0, len(cons))
	for s := range cons {
		list = append(list, s)
	}
	s := list[rand.IntN(len(list))]
	if err := s.GetPeers(); err != nil {
		log.Debugw("discovery: GetPeers not sent", "peer", s.Peer(), "err", err)
	}
}

// delivered counts the items (blocks, transactions, superblock votes and superblocks) a
// session received: what makes an outbound peer useful.
func delivered(s *session.Session) uint64 {
	st := s.Stats()
	return st.MessagesIn[protocol.KindBlock] + st.MessagesIn[protocol.KindTransaction] +
		st.MessagesIn[protocol.KindSuperBlockVote] + st.MessagesIn[protocol.KindSuperBlock]
}

// anchorsNow picks the anchors among the consolidated outbound sessions: those that
// delivered items before those that did not, then the longest-lived, up to Config.Anchors.
// An anchor is saved at the address its connection reached, so that the first dial after
// a restart goes where the session ran.
func (d *Dialer) anchorsNow() []peers.Addr {
	type cand struct {
		a     peers.Addr
		items uint64
		since time.Time
	}
	var cs []cand
	for s, o := range d.consolidated() {
		a := o.addr
		if !a.IsLegacy() {
			if m := s.Peer().Addr; m != nil {
				a.Addrs = append(a.Addrs[:0:0], m)
			}
		}
		cs = append(cs, cand{a: a, items: delivered(s), since: o.since})
	}
	slices.SortFunc(cs, func(x, y cand) int {
		return cmp.Or(cmp.Compare(min(y.items, 1), min(x.items, 1)), x.since.Compare(y.since),
			cmp.Compare(x.a.Key().String(), y.a.Key().String()))
	})
	out := make([]peers.Addr, 0, min(len(cs), d.cfg.Anchors))
	for _, c := range cs[:min(len(cs), max(d.cfg.Anchors, 0))] {
		out = append(out, c.a)
	}
	return out
}

// saveAnchors writes the current anchors to the book, keeping the saved ones when there
// are none (a node that lost its peers must not forget where it had them).
func (d *Dialer) saveAnchors() {
	if d.cfg.Anchors < 0 {
		return
	}
	as := d.anchorsNow()
	if len(as) == 0 {
		return
	}
	if err := d.cfg.Book.SetAnchors(as); err != nil {
		log.Warnw("address book: save anchors", "err", err)
	}
}
