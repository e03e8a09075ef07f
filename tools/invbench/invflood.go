package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// The ideal inv-flood is the yardstick of our gossip: the announce → request → item
// design with nothing else. A node that gets a new item announces its hash to every
// neighbour not known to hold it (the one it came from, and any that announced it); a
// neighbour that lacks the item requests it from the first neighbour that announced it;
// the requested item is sent back. Each item crosses each link at most once. There is no
// store, no validation beyond decoding, no timeout and no bound: nothing fails on
// loopback, so nothing needs recovering. Messages are Witnet messages in Witnet frames
// (the codec and the protocol builders), so its bytes compare with ours; a relayed item
// is forwarded as the frame payload it arrived in, never re-encoded.
//
// Each link is one libp2p stream per edge, opened by the edge's lower node and used in
// both directions, with a reader goroutine and a writer goroutine at each end. The writer
// sends everything queued since its last wake-up in one stream write: all pending
// announcements in one InventoryAnnouncement, all pending requests in one
// InventoryRequest (each split at protocol.MaxInventoryEntries), then the items.

// floodProtocol is the stream protocol of the inv-flood.
const floodProtocol = "/witnet-bench/inv-flood/1.0.0"

// floodNode is one node of the inv-flood.
type floodNode struct {
	host  host.Host
	tr    *tracker
	index map[protocol.Hash]int // bench item number by hash, for the tracker

	links  map[peer.ID]*floodLink // by neighbour
	closed chan struct{}

	mu    sync.Mutex
	items map[protocol.Hash]*floodItem
}

// floodItem is what a node knows of one hash.
type floodItem struct {
	payload   []byte // the Transaction message payload; nil until the node holds the item
	requested bool   // a request went to the first announcer
	holders   uint64 // bit l.bit set: neighbour l is known to hold the item
}

// floodLink is a node's end of the link to one neighbour.
type floodLink struct {
	node *floodNode
	bit  uint64 // this link's bit in floodItem.holders
	s    network.Stream
	up   chan struct{} // closed once s is set

	mu       sync.Mutex
	announce []protocol.Hash
	request  []protocol.Hash
	send     [][]byte // item payloads
	wake     chan struct{}
	msgs     atomic.Uint64 // frames written
	bytes    atomic.Uint64 // frame bytes written, headers included
}

// floodNet is a running inv-flood network.
type floodNet struct {
	s     scenario
	nodes []*floodNode
}

// startFlood builds the inv-flood on s's topology: one host per node, one stream per edge.
func startFlood(s scenario, tr *tracker) (testbed, error) {
	f := &floodNet{s: s, nodes: make([]*floodNode, s.nodes)}
	index, err := itemIndex(s.items)
	if err != nil {
		return nil, err
	}
	for i := range f.nodes {
		h, err := newHost()
		if err != nil {
			f.close()
			return nil, err
		}
		n := &floodNode{host: h, tr: tr, index: index, links: map[peer.ID]*floodLink{}, closed: make(chan struct{}), items: map[protocol.Hash]*floodItem{}}
		f.nodes[i] = n
		h.SetStreamHandler(floodProtocol, n.accept)
	}
	for _, e := range s.edges {
		a, b := f.nodes[e.a], f.nodes[e.b]
		a.addLink(b.host.ID())
		b.addLink(a.host.ID())
	}
	for _, n := range f.nodes {
		if len(n.links) > 64 {
			f.close()
			return nil, fmt.Errorf("inv-flood: degree %d > 64", len(n.links))
		}
	}
	for _, e := range s.edges {
		a, b := f.nodes[e.a], f.nodes[e.b]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.host.Connect(ctx, peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Addrs()})
		var st network.Stream
		if err == nil {
			st, err = a.host.NewStream(ctx, b.host.ID(), floodProtocol)
		}
		cancel()
		if err != nil {
			f.close()
			return nil, fmt.Errorf("inv-flood: link %d→%d: %w", e.a, e.b, err)
		}
		// The reader's first Read completes the lazy protocol negotiation, so b's handler
		// attaches its end without either side sending a message.
		a.links[b.host.ID()].attach(st)
	}
	if err := waitFor(20*time.Second, func() bool {
		for _, n := range f.nodes {
			for _, l := range n.links {
				select {
				case <-l.up:
				default:
					return false
				}
			}
		}
		return true
	}); err != nil {
		f.close()
		return nil, fmt.Errorf("inv-flood: links not up: %w", err)
	}
	return f, nil
}

// itemIndex maps each item's Witnet hash to its number.
func itemIndex(items [][]byte) (map[protocol.Hash]int, error) {
	index := make(map[protocol.Hash]int, len(items))
	for k, raw := range items {
		tx := new(pb.Transaction)
		if err := proto.Unmarshal(raw, tx); err != nil {
			return nil, err
		}
		h, err := protocol.TransactionHash(tx)
		if err != nil {
			return nil, err
		}
		index[h] = k
	}
	return index, nil
}

func (n *floodNode) addLink(id peer.ID) {
	n.links[id] = &floodLink{node: n, bit: 1 << len(n.links), up: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// accept attaches an inbound stream to the link of the neighbour that opened it.
func (n *floodNode) accept(st network.Stream) {
	l, ok := n.links[st.Conn().RemotePeer()]
	if !ok {
		_ = st.Reset()
		return
	}
	l.attach(st)
}

// attach starts the link's reader and writer on st.
func (l *floodLink) attach(st network.Stream) {
	l.s = st
	close(l.up)
	go l.read()
	go l.write()
}

// submit hands item k to its origin node, which decodes and hashes it (as a node must,
// to name it), encodes its message once and announces it to every neighbour.
func (f *floodNet) submit(k int) error {
	tx := new(pb.Transaction)
	if err := proto.Unmarshal(f.s.items[k], tx); err != nil {
		return err
	}
	h, err := protocol.TransactionHash(tx)
	if err != nil {
		return err
	}
	payload, err := protocol.Marshal(protocol.NewTransaction(protocol.Magic, tx))
	if err != nil {
		return err
	}
	f.nodes[f.s.origins[k]].received(nil, h, payload)
	return nil
}

// received handles a transaction that arrived on from (nil: submitted here) under hash h.
func (n *floodNode) received(from *floodLink, h protocol.Hash, payload []byte) {
	n.mu.Lock()
	it := n.item(h)
	if it.payload != nil {
		n.mu.Unlock()
		return // cannot happen: an item is requested once; kept for safety
	}
	it.payload = payload
	if from != nil {
		it.holders |= from.bit
	}
	holders := it.holders
	n.mu.Unlock()
	if k, ok := n.index[h]; ok {
		n.tr.held(k)
	}
	for _, l := range n.links {
		if holders&l.bit == 0 {
			l.queue(&l.announce, h)
		}
	}
}

// announced handles an announcement from l: it requests, from l, each hash that nobody
// was asked for yet.
func (n *floodNode) announced(l *floodLink, hashes []protocol.Hash) {
	var want []protocol.Hash
	n.mu.Lock()
	for _, h := range hashes {
		it := n.item(h)
		it.holders |= l.bit
		if it.payload == nil && !it.requested {
			it.requested = true
			want = append(want, h)
		}
	}
	n.mu.Unlock()
	for _, h := range want {
		l.queue(&l.request, h)
	}
}

// requested handles a request from l: it sends l each requested item it holds.
func (n *floodNode) requested(l *floodLink, hashes []protocol.Hash) {
	var items [][]byte
	n.mu.Lock()
	for _, h := range hashes {
		if it := n.items[h]; it != nil && it.payload != nil {
			it.holders |= l.bit
			items = append(items, it.payload)
		}
	}
	n.mu.Unlock()
	for _, p := range items {
		l.mu.Lock()
		l.send = append(l.send, p)
		l.mu.Unlock()
	}
	l.signal()
}

// item returns h's record, creating it; n.mu must be held.
func (n *floodNode) item(h protocol.Hash) *floodItem {
	it := n.items[h]
	if it == nil {
		it = &floodItem{}
		n.items[h] = it
	}
	return it
}

// queue appends h to one of l's pending lists and wakes its writer.
func (l *floodLink) queue(list *[]protocol.Hash, h protocol.Hash) {
	l.mu.Lock()
	*list = append(*list, h)
	l.mu.Unlock()
	l.signal()
}

func (l *floodLink) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// read decodes the neighbour's frames until the stream ends.
func (l *floodLink) read() {
	r := codec.NewReader(l.s, 0)
	for {
		frame, err := r.ReadFrame()
		if err != nil {
			return
		}
		m, err := protocol.Unmarshal(frame)
		if err != nil {
			log("inv-flood: %v", err)
			_ = l.s.Reset()
			return
		}
		switch c := m.GetKind().GetKind().(type) {
		case *pb.Message_Command_InventoryAnnouncement:
			l.node.announced(l, entryHashes(c.InventoryAnnouncement.GetInventory()))
		case *pb.Message_Command_InventoryRequest:
			l.node.requested(l, entryHashes(c.InventoryRequest.GetInventory()))
		case *pb.Message_Command_Transaction:
			h, err := protocol.TransactionHash(c.Transaction)
			if err != nil {
				log("inv-flood: %v", err)
				continue
			}
			l.node.received(l, h, frame)
		}
	}
}

// entryHashes returns the transaction hashes among entries.
func entryHashes(entries []*pb.InventoryEntry) []protocol.Hash {
	hs := make([]protocol.Hash, 0, len(entries))
	for _, e := range entries {
		if h, err := protocol.HashFromBytes(e.GetTx().GetSHA256()); err == nil {
			hs = append(hs, h)
		}
	}
	return hs
}

// write sends what is queued, in one stream write per wake-up, until the node closes.
func (l *floodLink) write() {
	var buf []byte
	for {
		select {
		case <-l.wake:
		case <-l.node.closed:
			return
		}
		l.mu.Lock()
		announce, request, send := l.announce, l.request, l.send
		l.announce, l.request, l.send = nil, nil, nil
		l.mu.Unlock()

		buf = buf[:0]
		var frames int
		var err error
		if buf, frames, err = appendEntries(buf, announce, protocol.NewInventoryAnnouncement); err != nil {
			l.fail(err)
			return
		}
		n := frames
		if buf, frames, err = appendEntries(buf, request, protocol.NewInventoryRequest); err != nil {
			l.fail(err)
			return
		}
		n += frames
		for _, p := range send {
			buf = append(codec.AppendHeader(buf, len(p)), p...)
			n++
		}
		if n == 0 {
			continue
		}
		if _, err := l.s.Write(buf); err != nil {
			l.fail(err)
			return
		}
		l.msgs.Add(uint64(n))
		l.bytes.Add(uint64(len(buf)))
	}
}

// appendEntries appends to buf the frames of messages built by build naming hashes, at
// most protocol.MaxInventoryEntries per message, and returns how many it appended.
func appendEntries(buf []byte, hashes []protocol.Hash, build func(uint16, []*pb.InventoryEntry) (*pb.Message, error)) ([]byte, int, error) {
	frames := 0
	for len(hashes) > 0 {
		chunk := hashes[:min(len(hashes), protocol.MaxInventoryEntries)]
		hashes = hashes[len(chunk):]
		entries := make([]*pb.InventoryEntry, len(chunk))
		for i, h := range chunk {
			entries[i] = protocol.TxEntry(h)
		}
		m, err := build(protocol.Magic, entries)
		if err != nil {
			return buf, frames, err
		}
		start := len(buf)
		buf = codec.StartFrame(buf)
		if buf, err = protocol.MarshalAppend(buf, m); err != nil {
			return buf[:start], frames, err
		}
		if _, err := codec.FinishFrame(buf, start, 0); err != nil {
			return buf[:start], frames, err
		}
		frames++
	}
	return buf, frames, nil
}

// fail reports a write error, unless the node is closing: on a live run it is a bench
// bug, and the items it loses show in the delivery count.
func (l *floodLink) fail(err error) {
	select {
	case <-l.node.closed:
	default:
		log("inv-flood: write: %v", err)
	}
}

// traffic sums the frames and frame bytes every node wrote.
func (f *floodNet) traffic() (msgs, bytes uint64) {
	for _, n := range f.nodes {
		if n == nil {
			continue
		}
		for _, l := range n.links {
			msgs += l.msgs.Load()
			bytes += l.bytes.Load()
		}
	}
	return msgs, bytes
}

func (f *floodNet) settle(time.Duration) []time.Duration { return nil }

func (f *floodNet) close() {
	for _, n := range f.nodes {
		if n == nil {
			continue
		}
		close(n.closed)
		_ = n.host.Close()
	}
}
