package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
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

// runGossipSub measures go-libp2p-pubsub's GossipSub with its defaults (messages signed
// and verified) on the same topology and payloads: every node subscribes to one topic and
// item k is published by its origin.
func runGossipSub(s scenario) (result, error) {
	res := result{system: "gossipsub", mode: mode(s)}
	tr := newTracker(len(s.items), s.nodes)
	index := make(map[[32]byte]int, len(s.items))
	for k, raw := range s.items {
		index[sha256.Sum256(raw)] = k
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	counter := &rpcCounter{}
	hosts := make([]host.Host, s.nodes)
	topics := make([]*pubsub.Topic, s.nodes)
	defer func() {
		cancel()
		for _, h := range hosts {
			if h != nil {
				_ = h.Close()
			}
		}
	}()
	for i := range hosts {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			return res, err
		}
		hosts[i] = h
		ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithRawTracer(counter))
		if err != nil {
			return res, err
		}
		if topics[i], err = ps.Join(benchTopic); err != nil {
			return res, err
		}
		sub, err := topics[i].Subscribe(pubsub.WithBufferSize(4 * len(s.items)))
		if err != nil {
			return res, err
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
		err := hosts[e.a].Connect(cctx, peer.AddrInfo{ID: hosts[e.b].ID(), Addrs: hosts[e.b].Addrs()})
		ccancel()
		if err != nil {
			return res, fmt.Errorf("connect %d→%d: %w", e.a, e.b, err)
		}
	}
	if err := waitFor(20*time.Second, func() bool {
		for i, t := range topics {
			if len(t.ListPeers()) < degree[i] {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("topic peers not seen: %w", err)
	}
	// Let a few heartbeats (1 s each) build the meshes before measuring.
	time.Sleep(3 * time.Second)

	msgs0, bytes0 := counter.msgs.Load(), counter.bytes.Load()
	cpu0 := cpuTime()
	drive(s, func(k int) {
		tr.submitted(k)
		if err := topics[s.origins[k]].Publish(ctx, s.items[k]); err != nil {
			log("publish %d: %v", k, err)
		}
	})
	res.latency, res.delivered = tr.wait(s.timeout)
	res.cpu = cpuTime() - cpu0
	time.Sleep(300 * time.Millisecond)
	res.messages = counter.msgs.Load() - msgs0
	res.bytes = counter.bytes.Load() - bytes0
	return res, nil
}
