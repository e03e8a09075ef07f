package dialer

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
	ma "github.com/multiformats/go-multiaddr"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// The dialer's tests run in a synctest bubble on a session.FakeClock: a round is one
// clock advance followed by synctest.Wait, after which every dial the round started has
// finished (or is blocked for good), so what a round did and did not do is known
// exactly. Dials are answered by the test: a peer that connects gets a real session over
// net.Pipe, with a real session on the far end, registered in a real sessions manager;
// the address book is a real one on a bbolt file.

// outcome is how a test peer answers a dial.
type outcome int

const (
	connect     outcome = iota // a session that completes its handshake
	unreachable                // the dial fails
	refused                    // the sessions manager refuses the session
	hang                       // the dial blocks until released or cancelled
	silent                     // connects, then never says a word
)

// dialEvent is one call of Config.Dial. An empty id in a round's want matches a dial of
// that type to any peer.
type dialEvent struct {
	id  peer.ID
	typ session.Type
}

func (e dialEvent) String() string { return fmt.Sprintf("%s %s", e.typ, e.id) }

// harness is a dialer with its collaborators.
type harness struct {
	t     *testing.T
	self  peer.ID
	clock *session.FakeClock
	book  *peers.Book
	mgr   *session.Manager
	d     *Dialer

	mu       sync.Mutex
	outcomes map[peer.ID]outcome
	dialled  []dialEvent
	opened   []*session.Session           // sessions handed to OnSession
	remotes  map[peer.ID]*session.Session // the far end of each connected session
	release  chan struct{}                // closing it ends the hanging dials
	peers    int                          // peers made by peerAddr
}

// newHarness builds the dialer's collaborators: a sessions manager that admits outbound
// sessions (negative: none) and an empty address book. newDialer builds the dialer.
func newHarness(t *testing.T, outbound int) *harness {
	h := &harness{
		t:        t,
		self:     test.RandPeerIDFatal(t),
		clock:    session.NewFakeClock(time.Unix(1_700_000_000, 0)),
		outcomes: map[peer.ID]outcome{},
		remotes:  map[peer.ID]*session.Session{},
		release:  make(chan struct{}),
	}
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "book.db"), 0o600, nil)
	require.NoError(t, err)
	h.book, err = peers.Open(db, peers.Config{Self: h.self, Now: h.clock.Now, Rand: mrand.NewPCG(1, 2)})
	require.NoError(t, err)
	h.mgr = session.NewManager(session.ManagerConfig{OutboundLimit: outbound, Self: h.self, Clock: h.clock})
	t.Cleanup(func() {
		if h.d != nil {
			h.d.Close()
		}
		_ = h.mgr.Close()
		h.mu.Lock()
		remotes := h.remotes
		h.mu.Unlock()
		for _, r := range remotes {
			r.Close(nil)
			<-r.Done()
		}
		_ = db.Close()
	})
	return h
}

// newDialer builds the dialer on the harness with cfg's settings; a zero MeltPeriod
// becomes an hour, so that only the tests of melting see melt rounds.
func (h *harness) newDialer(cfg Config) *harness {
	cfg.Book, cfg.Sessions, cfg.Dial, cfg.Clock = h.book, h.mgr, h.dial, h.clock
	cfg.OnSession = func(s *session.Session) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.opened = append(h.opened, s)
	}
	if cfg.MeltPeriod == 0 {
		cfg.MeltPeriod = time.Hour
	}
	var err error
	h.d, err = New(cfg)
	require.NoError(h.t, err)
	return h
}

// peerAddr returns the address of a new peer, in a /16 of its own, answering with o.
func (h *harness) peerAddr(o outcome) peers.Addr {
	id := test.RandPeerIDFatal(h.t)
	h.mu.Lock()
	h.outcomes[id] = o
	h.peers++
	ip := fmt.Sprintf("10.%d.%d.1", h.peers/256, h.peers%256)
	h.mu.Unlock()
	return peers.Addr{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/" + ip + "/tcp/21337")}}
}

// bootstrapAddr returns a configured bootstrap address answering with o.
func (h *harness) bootstrapAddr(o outcome) ma.Multiaddr {
	a := h.peerAddr(o)
	p, err := a.P2PAddrs()
	require.NoError(h.t, err)
	return p[0]
}

// addNew puts len(outs) new peers in the new bucket, the i-th answering with outs[i],
// and returns them. Two peers can hash to one slot, the later evicting the earlier, so
// an evicted peer is replaced until the bucket holds every returned peer.
func (h *harness) addNew(outs ...outcome) []peer.ID {
	ids := make([]peer.ID, len(outs))
	inBook := func(id peer.ID) bool {
		_, where, ok := h.book.Lookup(id)
		return ok && where == peers.BucketNew
	}
	for tries := 0; ; tries++ {
		require.Less(h.t, tries, 100, "the new bucket keeps evicting peers")
		done := true
		for i, o := range outs {
			if ids[i] != "" && inBook(ids[i]) {
				continue
			}
			done = false
			a := h.peerAddr(o)
			_, err := h.book.AddNew([]peers.Addr{a}, nil)
			require.NoError(h.t, err)
			ids[i] = a.ID
		}
		if done {
			return ids
		}
	}
}

// dial is the dialer's Config.Dial.
func (h *harness) dial(ctx context.Context, ai peer.AddrInfo, t session.Type) (*session.Session, error) {
	h.mu.Lock()
	h.dialled = append(h.dialled, dialEvent{ai.ID, t})
	o, known := h.outcomes[ai.ID]
	h.mu.Unlock()
	require.True(h.t, known, "dial of unknown peer %s", ai.ID)
	switch o {
	case unreachable:
		return nil, errors.New("connection refused")
	case refused:
		return nil, fmt.Errorf("test: %w", session.ReasonRegisterRefused)
	case hang:
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-h.release:
			return nil, errors.New("timed out")
		}
	}
	near, far := net.Pipe()
	local := session.New(near, session.Peer{ID: ai.ID}, t, session.Config{Clock: h.clock, Registry: h.mgr})
	if o == silent {
		go func() { _, _ = io.Copy(io.Discard, far) }()
	} else {
		remote := session.New(far, session.Peer{ID: h.self}, session.Inbound, session.Config{Clock: h.clock})
		h.mu.Lock()
		h.remotes[ai.ID] = remote
		h.mu.Unlock()
		remote.Start()
	}
	local.Start()
	// As session.Service.Dial: only a refused registration fails the dial; any later end
	// (a feeler's, say, which may come at once) is the session's.
	if err := local.Err(); errors.Is(err, session.ReasonRegisterRefused) {
		return nil, err
	}
	return local, nil
}

// takeDials returns the dials since the last call.
func (h *harness) takeDials() []dialEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.dialled
	h.dialled = nil
	return out
}

// remote returns the far end of the session with id.
func (h *harness) remote(id peer.ID) *session.Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.remotes[id]
	require.True(h.t, ok, "no session with %s", id)
	return r
}

// failures returns the failed-dial counter of outcome o.
func (h *harness) failures(o peers.Outcome) float64 {
	var m dto.Metric
	require.NoError(h.t, h.d.failures.WithLabelValues(o.String()).Write(&m))
	return m.GetCounter().GetValue()
}

// dials returns the dial counter of typ and result.
func (h *harness) dials(typ session.Type, result string) float64 {
	var m dto.Metric
	require.NoError(h.t, h.d.dials.WithLabelValues(typ.String(), result).Write(&m))
	return m.GetCounter().GetValue()
}

// round is one step of a dialer test: before runs first, then the clock advances (the
// first round starts the dialer instead), then want lists the dials the round made and
// check looks at the result.
type round struct {
	name    string
	before  func(h *harness)
	advance time.Duration
	want    []dialEvent
	check   func(t *testing.T, h *harness)
}

// run plays the rounds in a synctest bubble on a harness from setup.
func run(t *testing.T, setup func(t *testing.T) (*harness, []round)) {
	synctest.Test(t, func(t *testing.T) {
		h, rounds := setup(t)
		for i, r := range rounds {
			if r.before != nil {
				r.before(h)
				synctest.Wait()
			}
			if i == 0 {
				h.d.Start()
			} else {
				h.clock.Advance(r.advance)
			}
			synctest.Wait()
			requireDials(t, r.want, h.takeDials(), "round %d (%s)", i, r.name)
			if r.check != nil {
				r.check(t, h)
			}
		}
	})
}

// requireDials checks got against want, in any order; a want without an id matches a
// dial of its type to any peer.
func requireDials(t *testing.T, want, got []dialEvent, msgAndArgs ...any) {
	t.Helper()
	rest := slices.Clone(got)
	var missing []dialEvent
	for _, w := range slices.SortedFunc(slices.Values(want), func(a, b dialEvent) int { return -strings.Compare(string(a.id), string(b.id)) }) {
		i := slices.IndexFunc(rest, func(g dialEvent) bool { return g.typ == w.typ && (w.id == "" || g.id == w.id) })
		if i < 0 {
			missing = append(missing, w)
			continue
		}
		rest = slices.Delete(rest, i, i+1)
	}
	if len(missing) > 0 || len(rest) > 0 {
		require.Fail(t, fmt.Sprintf("dials: missing %v, unexpected %v", missing, rest), msgAndArgs...)
	}
}

func outbound(id peer.ID) dialEvent { return dialEvent{id, session.Outbound} }
func feeler(id peer.ID) dialEvent   { return dialEvent{id, session.Feeler} }

// anyFeeler matches one feeler dial to any peer.
var anyFeeler = dialEvent{"", session.Feeler}

// idOf returns the peer ID of a /p2p multiaddr.
func idOf(t *testing.T, m ma.Multiaddr) peer.ID {
	a, err := peers.AddrFromP2P(m)
	require.NoError(t, err)
	return a.ID
}

// TestBootstrapRounds: bootstrap rounds fill the outbound limit, configured peers first;
// an unreachable peer is not iced (the address was not its own): a book peer waits for its
// retry delay, a configured peer is retried every round; a peer whose session ended is
// dialled again.
func TestBootstrapRounds(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, 4)
		boot := []ma.Multiaddr{h.bootstrapAddr(connect), h.bootstrapAddr(unreachable)}
		h.newDialer(Config{Bootstrap: boot, BootstrapPeriod: 10 * time.Second})
		b1, b2 := idOf(t, boot[0]), idOf(t, boot[1])
		ids := h.addNew(connect, unreachable)
		n1, n2 := ids[0], ids[1]
		return h, []round{
			{name: "start: configured peers, then the book", want: []dialEvent{outbound(b1), outbound(b2), outbound(n1), outbound(n2)},
				check: func(t *testing.T, h *harness) {
					require.Equal(t, 2, h.mgr.NumSessions().OutboundConsolidated)
					require.False(t, h.book.IsIced(b2), "a failed dial of an address the peer did not give ices nothing")
					require.False(t, h.book.IsIced(n2))
					require.Equal(t, 2.0, h.dials(session.Outbound, "ok"))
					require.Equal(t, 2.0, h.dials(session.Outbound, "failed"))
					require.Equal(t, 1.0, h.failures(peers.OutcomeCounted), "the book peer's failure is counted")
					require.Equal(t, 1.0, h.failures(peers.OutcomeUnknown), "the configured peer is not in the book")
					require.Len(t, h.opened, 2, "OnSession sees every session dialled")
					require.Zero(t, h.d.Dialing())
				}},
			{name: "the configured peer is retried, the book peer waits", advance: 10 * time.Second,
				want: []dialEvent{outbound(b2)}},
			{name: "not before the period", advance: 9 * time.Second},
			{name: "a peer whose session ended is dialled again",
				before: func(h *harness) { h.remote(n1).Close(nil) }, advance: time.Second,
				want: []dialEvent{outbound(b2), outbound(n1)},
				check: func(t *testing.T, h *harness) {
					require.Equal(t, 2, h.mgr.NumSessions().OutboundConsolidated)
				}},
			{name: "the book peer after its retry delay", advance: peers.RetryDelay - 20*time.Second,
				want: []dialEvent{outbound(b2), outbound(n2)}},
		}
	})
}

// TestDialsInFlightCount: a dial in flight counts against the outbound limit and its
// peer is not dialled twice.
func TestDialsInFlightCount(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, 2)
		b := h.bootstrapAddr(hang)
		h.newDialer(Config{Bootstrap: []ma.Multiaddr{b}, BootstrapPeriod: 10 * time.Second})
		n := h.addNew(connect)[0]
		return h, []round{
			{name: "start", want: []dialEvent{outbound(idOf(t, b)), outbound(n)},
				check: func(t *testing.T, h *harness) { require.Equal(t, 1, h.d.Dialing()) }},
			{name: "one session, one dial in flight: nothing to do though the book has a peer",
				before: func(h *harness) { h.addNew(connect) }, advance: 10 * time.Second},
			{name: "the dial fails (and from now on fails at once): the configured peer is dialled again",
				before: func(h *harness) {
					close(h.release)
					synctest.Wait()
					require.Equal(t, 1.0, h.dials(session.Outbound, "failed"))
					require.Zero(t, h.d.Dialing())
				},
				advance: 10 * time.Second, want: []dialEvent{outbound(idOf(t, b))},
				check: func(t *testing.T, h *harness) {
					require.False(t, h.book.IsIced(idOf(t, b)))
					require.Equal(t, 2.0, h.dials(session.Outbound, "failed"))
				}},
		}
	})
}

// TestRefusedDialIsNotIced: a session the manager refuses does not count against its
// peer; an unreachable peer's failure is counted, and it is iced only when the address
// was its own.
func TestRefusedDialIsNotIced(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, 3).newDialer(Config{})
		ids := h.addNew(refused, unreachable)
		own := h.peerAddr(unreachable)
		src := peers.Addr{ID: own.ID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/40000")}}
		ok, err := h.book.AddSelf(own, src)
		require.NoError(t, err)
		require.True(t, ok)
		return h, []round{
			{name: "start", want: []dialEvent{outbound(ids[0]), outbound(ids[1]), outbound(own.ID)},
				check: func(t *testing.T, h *harness) {
					require.False(t, h.book.IsIced(ids[0]), "refused")
					require.False(t, h.book.IsIced(ids[1]), "unreachable at an address a third party gave")
					require.True(t, h.book.IsIced(own.ID), "unreachable at its own address")
					require.Equal(t, 1.0, h.dials(session.Outbound, "refused"))
					require.Equal(t, 2.0, h.dials(session.Outbound, "failed"))
					require.Equal(t, 1.0, h.failures(peers.OutcomeCounted))
					require.Equal(t, 1.0, h.failures(peers.OutcomeIced))
				}},
			{name: "no more rounds with a zero period", advance: time.Hour},
		}
	})
}

// TestFeelerRounds: each feeler round tests one address of the new bucket, at most
// maxFeelers at once; a feeler counts until its dial fails or its session ends.
func TestFeelerRounds(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, -1).newDialer(Config{FeelerPeriod: 2 * time.Second}) // no outbound sessions
		h.addNew(hang, hang, hang, hang, hang)
		feelers := func(n int) func(t *testing.T, h *harness) {
			return func(t *testing.T, h *harness) { require.Equal(t, n, h.d.Feelers()) }
		}
		rounds := []round{{name: "start: no outbound sessions wanted"}}
		for i := range maxFeelers {
			rounds = append(rounds, round{name: fmt.Sprintf("feeler %d", i+1), advance: 2 * time.Second,
				want: []dialEvent{anyFeeler}, check: feelers(i + 1)})
		}
		var ok peer.ID
		return h, append(rounds,
			round{name: "at the bound", advance: 2 * time.Second, check: func(t *testing.T, h *harness) {
				require.Equal(t, maxFeelers, h.d.Feelers())
				newN, _, _ := h.book.Counts()
				require.Equal(t, 5, newN, "candidates stay in new until their feeler ends")
			}},
			round{name: "the dials fail (and from now on fail at once): one more feeler",
				before: func(h *harness) {
					close(h.release)
					synctest.Wait()
					require.Zero(t, h.d.Feelers())
				},
				advance: 2 * time.Second, want: []dialEvent{anyFeeler}, check: func(t *testing.T, h *harness) {
					require.Equal(t, float64(maxFeelers+1), h.dials(session.Feeler, "failed"))
					require.Zero(t, h.d.Feelers())
					require.Equal(t, session.SessionCounts{}, h.mgr.NumSessions())
				}},
			round{name: "a reachable peer",
				before: func(h *harness) { ok = h.addNew(connect)[0] }, advance: 2 * time.Second,
				want: []dialEvent{feeler(ok)}, check: func(t *testing.T, h *harness) {
					require.Equal(t, 1.0, h.dials(session.Feeler, "ok"))
					require.Zero(t, h.d.Feelers(), "the feeler session ended after its handshake")
					require.ErrorIs(t, h.opened[0].Err(), session.ReasonFeelerDone)
				}},
		)
	})
}

// TestDiscoveryRounds: a discovery round sends GetPeers to a consolidated outbound peer.
func TestDiscoveryRounds(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, 1)
		b := h.bootstrapAddr(connect)
		h.newDialer(Config{Bootstrap: []ma.Multiaddr{b}, DiscoveryPeriod: 30 * time.Second})
		getPeers := func(n uint64) func(t *testing.T, h *harness) {
			return func(t *testing.T, h *harness) {
				require.Equal(t, n, h.remote(idOf(t, b)).Stats().MessagesIn[protocol.KindGetPeers])
			}
		}
		return h, []round{
			{name: "start", want: []dialEvent{outbound(idOf(t, b))}, check: getPeers(0)},
			{name: "not before the period", advance: 29 * time.Second, check: getPeers(0)},
			{name: "discovery", advance: time.Second, check: getPeers(1)},
			{name: "again", advance: 30 * time.Second, check: getPeers(2)},
		}
	})
}

// TestConsolidatedAsksForPeers: a consolidated outbound session is asked for peers at
// once while the book holds fewer peers than the outbound limit, and not after.
func TestConsolidatedAsksForPeers(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, 2)
		b := h.bootstrapAddr(connect)
		h.newDialer(Config{Bootstrap: []ma.Multiaddr{b}})
		h.addNew(hang)
		consolidated := func(want uint64) func(t *testing.T, h *harness) {
			return func(t *testing.T, h *harness) {
				s, ok := h.mgr.Lookup(idOf(t, b), session.Outbound)
				require.True(t, ok)
				h.d.Consolidated(s)
				synctest.Wait()
				require.Equal(t, want, h.remote(idOf(t, b)).Stats().MessagesIn[protocol.KindGetPeers])
			}
		}
		return h, []round{
			{name: "start: one peer in the book, the limit is 2", want: []dialEvent{outbound(idOf(t, b)), outbound("")},
				check: consolidated(1)},
			{name: "two peers in the book", before: func(h *harness) { h.addNew(hang) }, check: consolidated(1)},
		}
	})
}

// TestMeltRounds: a melt round returns a peer whose ice period is over to the book.
func TestMeltRounds(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, -1).newDialer(Config{MeltPeriod: 10 * time.Minute})
		id := h.addNew(connect)[0]
		require.NoError(t, h.book.Ice(id))
		iced := func(want bool) func(t *testing.T, h *harness) {
			return func(t *testing.T, h *harness) { require.Equal(t, want, h.book.IsIced(id)) }
		}
		period := h.book.IcePeriod()
		require.Greater(t, period, 10*time.Minute)
		return h, []round{
			{name: "start", check: iced(true)},
			{name: "melt round, still iced", advance: 10 * time.Minute, check: iced(true)},
			{name: "melt round after the ice period", advance: period, check: func(t *testing.T, h *harness) {
				require.False(t, h.book.IsIced(id))
				require.Empty(t, h.book.Iced(), "the ice bucket was melted")
			}},
		}
	})
}

// TestClose: Close stops the rounds, aborts the dials in flight and ends the live
// feelers; Start after Close does nothing.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1)
		h.newDialer(Config{Bootstrap: []ma.Multiaddr{h.bootstrapAddr(hang)},
			BootstrapPeriod: time.Second, DiscoveryPeriod: time.Second, FeelerPeriod: time.Second})
		h.d.Start()
		synctest.Wait()
		requireDials(t, []dialEvent{outbound("")}, h.takeDials())
		f := h.addNew(silent)[0]
		h.clock.Advance(time.Second)
		synctest.Wait()
		requireDials(t, []dialEvent{feeler(f)}, h.takeDials())
		require.Equal(t, 1, h.d.Dialing())
		require.Equal(t, 1, h.d.Feelers(), "a feeler waiting for its handshake")
		require.NotZero(t, h.clock.Pending())

		h.d.Close()
		require.Zero(t, h.d.Dialing())
		require.Zero(t, h.d.Feelers())
		require.ErrorIs(t, h.opened[0].Err(), session.ReasonLocalClose, "the feeler was closed")
		h.d.Start()
		h.clock.Advance(time.Hour)
		synctest.Wait()
		require.Empty(t, h.takeDials())
	})
}

// TestNewNeedsCollaborators: New refuses a config without a book, sessions or dial.
func TestNewNeedsCollaborators(t *testing.T) {
	_, err := New(Config{})
	require.Error(t, err)
}
