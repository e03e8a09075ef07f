package inventory

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/witnet-p2p/witnet-p2p/session"
)

// Exports for the external tests (package inventory_test). Those can import the node
// package, which imports this one, so they can restart a test node's file as a real node.

// GossipNode is a test node (host, sessions, bbolt file, engine) seen from outside.
type GossipNode = testNode

// StartGossipNode starts a test node on the bbolt file at path, with outbound limit
// outbound; the test's cleanup stops it.
func StartGossipNode(t *testing.T, path string, outbound int) *GossipNode {
	return startTestNode(t, path, nodeOpts{outbound: outbound})
}

// Engine returns the node's engine.
func (n *testNode) Engine() *Engine { return n.engine }

// Store returns the node's store.
func (n *testNode) Store() *Store { return n.store }

// Manager returns the node's sessions manager.
func (n *testNode) Manager() *session.Manager { return n.mgr }

// Host returns the node's libp2p host.
func (n *testNode) Host() host.Host { return n.host }

// Stop stops the node and closes its bbolt file.
func (n *testNode) Stop() { n.stop() }

// Session waits for a consolidated session of type typ with id and returns it.
func (n *testNode) Session(t *testing.T, id peer.ID, typ session.Type) *session.Session {
	return n.session(t, id, typ)
}

// Dial opens an outbound session to a peer and waits for the handshake.
func (n *testNode) Dial(t *testing.T, to peer.AddrInfo) { n.dialAddr(t, to) }

// WaitGossipSent returns once the engine's flusher has handed to their sessions all the
// announcements and pushes queued before the call.
func (e *Engine) WaitGossipSent() { e.gossipSent() }

// WaitFor polls until cond holds and fails the test if it does not within a deadline
// generous enough for real hosts under the race detector.
var WaitFor = waitFor
