package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"
)

const benchTopic = "witnet-bench"

// rpcCounter counts the RPCs GossipSub hands to its streams and their bytes on the wire
// (the varint length prefix plus the protobuf RPC), the counterpart of our session frames.
type rpcCounter struct{ msgs, bytes atomic.Uint64 }

var _ pubsub.RawTracer = (*rpcCounter)(nil)

func (c *rpcCounter) SendRPCCompleted(rpc *pubsub.RPC, _ peer.ID, _ time.Duration) {
	n := proto.Size(&rpc.RPC)
	c.msgs.Add(1)
	c.bytes.Add(uint64(n + uvarintLen(uint64(n))))
}
func (c *rpcCounter) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (c *rpcCounter) OnClosedOutboundStream(peer.ID)           {}
func (c *rpcCounter) Join(string)                              {}
func (c *rpcCounter) Leave(string)                             {}
func (c *rpcCounter) Graft(peer.ID, string)                    {}
func (c *rpcCounter) Prune(peer.ID, string)                    {}
func (c *rpcCounter) ValidateMessage(*pubsub.Message)          {}
func (c *rpcCounter) DeliverMessage(*pubsub.Message)           {}
func (c *rpcCounter) RejectMessage(*pubsub.Message, string)    {}
func (c *rpcCounter) DuplicateMessage(*pubsub.Message)         {}
func (c *rpcCounter) ThrottlePeer(peer.ID)                     {}
func (c *rpcCounter) RecvRPC(*pubsub.RPC)                      {}
func (c *rpcCounter) SendRPC(*pubsub.RPC, peer.ID)             {}
func (c *rpcCounter) DropRPC(*pubsub.RPC, peer.ID)             {}
func (c *rpcCounter) UndeliverableMessage(*pubsub.Message)     {}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// gossipNet is a running GossipSub network: go-libp2p-pubsub with its defaults
// (messages signed and verified), every node subscribed to one topic, item k published by
// its origin.
type gossipNet struct {
	s       scenario
	cancel  context.CancelFunc
	counter *rpcCounter
	hosts   []host.Host
	topics  []*pubsub.Topic
}

// startGossipSub builds the GossipSub nodes on s's topology and lets their meshes form.
func startGossipSub(s scenario, tr *tracker) (testbed, error) {
	index := make(map[[32]byte]int, len(s.items))
	for k, raw := range s.items {
		index[sha256.Sum256(raw)] = k
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gossipNet{s: s, cancel: cancel, counter: &rpcCounter{}, hosts: make([]host.Host, s.nodes), topics: make([]*pubsub.Topic, s.nodes)}
	if err := g.build(ctx, tr, index); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

func (g *gossipNet) build(ctx context.Context, tr *tracker, index map[[32]byte]int) error {
	s := g.s
	for i := range g.hosts {
		h, err := newHost()
		if err != nil {
			return err
		}
		g.hosts[i] = h
		ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithRawTracer(g.counter))
		if err != nil {
			return err
		}
		if g.topics[i], err = ps.Join(benchTopic); err != nil {
			return err
		}
		sub, err := g.topics[i].Subscribe(pubsub.WithBufferSize(4 * len(s.items)))
		if err != nil {
			return err
		}
		go func() {
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				if k, ok := index[sha256.Sum256(m.Data)]; ok {
					tr.held(k)
				}
			}
		}()
	}
	degree := make([]int, s.nodes)
	for _, e := range s.edges {
		degree[e.a]++
		degree[e.b]++
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := g.hosts[e.a].Connect(cctx, peer.AddrInfo{ID: g.hosts[e.b].ID(), Addrs: g.hosts[e.b].Addrs()})
		ccancel()
		if err != nil {
			return fmt.Errorf("connect %d→%d: %w", e.a, e.b, err)
		}
	}
	if err := waitFor(20*time.Second, func() bool {
		for i, t := range g.topics {
			if len(t.ListPeers()) < degree[i] {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("topic peers not seen: %w", err)
	}
	// Let a few heartbeats (1 s each) build the meshes before measuring.
	time.Sleep(3 * time.Second)
	return nil
}

func (g *gossipNet) submit(k int) error {
	return g.topics[g.s.origins[k]].Publish(context.Background(), g.s.items[k])
}

func (g *gossipNet) settle(time.Duration) []time.Duration { return nil }

func (g *gossipNet) traffic() (msgs, bytes uint64) {
	return g.counter.msgs.Load(), g.counter.bytes.Load()
}

func (g *gossipNet) close() {
	g.cancel()
	for _, h := range g.hosts {
		if h != nil {
			_ = h.Close()
		}
	}
}
