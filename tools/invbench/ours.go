package main

import (
	"context"
	"errors"
	"fmt"
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

// ourNode is a witnet-p2p node reduced to what gossip needs: host, sessions, store, engine.
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

// runOurs measures this repository's gossip on s, with one bbolt file per node in dir.
func runOurs(s scenario, dir string) (result, error) {
	res := result{system: "witnet-p2p", mode: mode(s)}
	tr := newTracker(len(s.items), s.nodes)      // accepted: served and announced
	durable := newTracker(len(s.items), s.nodes) // committed to the node's bbolt file
	index := make(map[protocol.Hash]int, len(s.items))
	var dec inventory.Decoder
	for k, raw := range s.items {
		it, _, err := dec.Decode(protocol.KindTransaction, raw)
		if err != nil {
			return res, err
		}
		index[it.Hash] = k
	}
	degree := make([]int, s.nodes)
	for _, e := range s.edges {
		degree[e.a]++
		degree[e.b]++
	}

	nodes := make([]*ourNode, s.nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.close()
			}
		}
	}()
	for i := range nodes {
		n := &ourNode{}
		nodes[i] = n
		var err error
		if n.db, err = bbolt.Open(filepath.Join(dir, fmt.Sprintf("node%02d.db", i)), 0o600, &bbolt.Options{NoSync: s.noSync}); err != nil {
			return res, err
		}
		store, err := inventory.OpenStore(n.db, inventory.StoreConfig{MaxTransactions: 10 * len(s.items)})
		if err != nil {
			return res, err
		}
		n.engine, err = inventory.New(inventory.Config{Store: store, CommitDelay: s.commitDelay, PushMaxSize: s.pushMaxSize,
			OnNew: func(it inventory.Item) {
				if k, ok := index[it.Hash]; ok {
					tr.held(k)
				}
			},
			OnStored: func(it inventory.Item) {
				if k, ok := index[it.Hash]; ok {
					durable.held(k)
				}
			},
		})
		if err != nil {
			return res, err
		}
		n.mgr = session.NewManager(session.ManagerConfig{
			OutboundLimit:  degree[i],
			InboundLimit:   degree[i],
			OnConsolidated: n.engine.AddSession,
			OnUnregistered: n.engine.RemoveSession,
		})
		if n.host, err = libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.ConnectionGater(n.mgr.Gater()), libp2p.DisableRelay()); err != nil {
			return res, err
		}
		n.svc = session.NewService(n.host, n.mgr, session.Config{Inventory: n.engine, Budgets: session.Budgets{SendQueueSize: 4096}})
	}
	for _, e := range s.edges {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := nodes[e.a].svc.Dial(ctx, peer.AddrInfo{ID: nodes[e.b].host.ID(), Addrs: nodes[e.b].host.Addrs()}, session.Outbound)
		cancel()
		if err != nil {
			return res, fmt.Errorf("dial %d→%d: %w", e.a, e.b, err)
		}
	}
	if err := waitFor(20*time.Second, func() bool {
		for i, n := range nodes {
			c := n.mgr.NumSessions()
			if c.InboundConsolidated+c.OutboundConsolidated != degree[i] {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("sessions did not consolidate: %w", err)
	}

	var msgs0, bytes0 uint64
	for _, n := range nodes {
		m, b := n.traffic()
		msgs0, bytes0 = msgs0+m, bytes0+b
	}
	cpu0 := cpuTime()
	drive(s, func(k int) {
		tr.submitted(k)
		durable.submitted(k)
		if _, _, err := nodes[s.origins[k]].engine.Submit(protocol.KindTransaction, s.items[k]); err != nil {
			log("submit %d: %v", k, err)
		}
	})
	res.latency, res.delivered = tr.wait(s.timeout)
	res.stored, _ = durable.wait(s.timeout)
	res.cpu = cpuTime() - cpu0         // the commits included
	time.Sleep(300 * time.Millisecond) // count stragglers' traffic too
	for _, n := range nodes {
		m, b := n.traffic()
		res.messages += m
		res.bytes += b
	}
	res.messages -= msgs0
	res.bytes -= bytes0
	return res, nil
}

func mode(s scenario) string {
	if s.burst {
		return "burst"
	}
	return fmt.Sprintf("paced %g/s", s.rate)
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
