package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// ourNode is a witnet-p2p node reduced to what gossip needs: host, sessions, store, engine,
// each configured as the node configures it (node/node.go, node/host.go): default
// session budgets and send queue, the node-wide receive budget at its default rates,
// the store's default pools, the mainnet decoder, fsync on.
type ourNode struct {
	db     *bbolt.DB
	engine *inventory.Engine
	host   host.Host
	mgr    *session.Manager
	svc    *session.Service
}

func (n *ourNode) close() {
	if n.svc != nil {
		_ = n.svc.Close()
	}
	if n.mgr != nil {
		_ = n.mgr.Close()
	}
	if n.host != nil {
		_ = n.host.Close()
	}
	if n.engine != nil {
		_ = n.engine.Close()
	}
	if n.db != nil {
		_ = n.db.Close()
	}
}

// traffic sums the messages and frame bytes (4-byte header included) sent on every
// consolidated session of the node.
func (n *ourNode) traffic() (msgs, bytes uint64) {
	for _, p := range n.mgr.ConsolidatedPeers() {
		s, ok := n.mgr.Lookup(p.Peer.ID, p.Type)
		if !ok {
			continue
		}
		st := s.Stats()
		for k := range protocol.NumKinds {
			msgs += st.MessagesOut[k]
			bytes += st.BytesOut[k]
		}
	}
	return msgs, bytes
}

// ourNet is a running network of our nodes, with one bbolt file per node in dir.
type ourNet struct {
	s       scenario
	dir     string
	nodes   []*ourNode
	durable *tracker // committed to the node's bbolt file
}

// startOurs builds our nodes on s's topology and waits for every session to consolidate.
func startOurs(s scenario, tr *tracker) (testbed, error) {
	dir, err := os.MkdirTemp("", "witnet-bench-")
	if err != nil {
		return nil, err
	}
	o := &ourNet{s: s, dir: dir, nodes: make([]*ourNode, s.nodes), durable: newTracker(len(s.items), s.nodes)}
	if err := o.build(tr); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *ourNet) build(tr *tracker) error {
	s := o.s
	index, err := itemIndex(s.items)
	if err != nil {
		return err
	}
	degree := make([]int, s.nodes)
	for _, e := range s.edges {
		degree[e.a]++
		degree[e.b]++
	}
	decoder := inventory.Decoder{Activations: protocol.MainnetActivations}
	for i := range o.nodes {
		n := &ourNode{}
		o.nodes[i] = n
		if n.db, err = bbolt.Open(filepath.Join(o.dir, fmt.Sprintf("node%02d.db", i)), 0o600, &bbolt.Options{NoSync: s.noSync}); err != nil {
			return err
		}
		store, err := inventory.OpenStore(n.db, inventory.StoreConfig{})
		if err != nil {
			return err
		}
		n.engine, err = inventory.New(inventory.Config{Store: store, Decoder: decoder, CommitDelay: s.commitDelay, PushMaxSize: s.pushMaxSize,
			OnNew: func(it inventory.Item) {
				if k, ok := index[it.Hash]; ok {
					tr.held(k)
				}
			},
			OnStored: func(it inventory.Item) {
				if k, ok := index[it.Hash]; ok {
					o.durable.held(k)
				}
			},
		})
		if err != nil {
			return err
		}
		n.mgr = session.NewManager(session.ManagerConfig{
			OnConsolidated: n.engine.AddSession,
			OnUnregistered: n.engine.RemoveSession,
		})
		if n.host, err = newHost(libp2p.ConnectionGater(n.mgr.Gater())); err != nil {
			return err
		}
		n.svc = session.NewService(n.host, n.mgr, session.Config{
			Inventory:     n.engine,
			Activations:   protocol.MainnetActivations,
			ReceiveBudget: session.NewReceiveBudget(session.DefaultNodeMessageRate, session.DefaultNodeByteRate),
		})
	}
	for _, e := range s.edges {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := o.nodes[e.a].svc.Dial(ctx, peer.AddrInfo{ID: o.nodes[e.b].host.ID(), Addrs: o.nodes[e.b].host.Addrs()}, session.Outbound)
		cancel()
		if err != nil {
			return fmt.Errorf("dial %d→%d: %w", e.a, e.b, err)
		}
	}
	if err := waitFor(20*time.Second, func() bool {
		for i, n := range o.nodes {
			c := n.mgr.NumSessions()
			if c.InboundConsolidated+c.OutboundConsolidated != degree[i] {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("sessions did not consolidate: %w", err)
	}
	return nil
}

func (o *ourNet) submit(k int) error {
	o.durable.submitted(k)
	_, _, err := o.nodes[o.s.origins[k]].engine.Submit(protocol.KindTransaction, o.s.items[k])
	return err
}

// settle waits until every node committed every item, so that the commits' CPU is
// counted, and returns the per-item time until then.
func (o *ourNet) settle(timeout time.Duration) []time.Duration {
	stored, _, _ := o.durable.wait(timeout)
	return stored
}

func (o *ourNet) traffic() (msgs, bytes uint64) {
	for _, n := range o.nodes {
		m, b := n.traffic()
		msgs, bytes = msgs+m, bytes+b
	}
	return msgs, bytes
}

func (o *ourNet) close() {
	for _, n := range o.nodes {
		if n != nil {
			n.close()
		}
	}
	_ = os.RemoveAll(o.dir)
}

func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
