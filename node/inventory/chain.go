package inventory

import (
	"context"
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Chain wraps a node's chain state so that the LastBeacon of an inbound peer is answered
// by the engine with the stored blocks the peer lacks (WIRE.md 7.6); every other method is
// the wrapped chain's.
type Chain struct {
	session.Chain
	Engine *Engine
}

var _ session.Chain = Chain{}

// InboundBeacon implements session.Chain.
func (c Chain) InboundBeacon(s *session.Session, b *pb.LastBeacon) {
	c.Engine.InboundBeacon(s, b)
}

// BeaconLoop sends chain.LastBeacon() to every consolidated outbound session at the start
// of each epoch of epochs, on the engine's clock, until ctx is done. The peers it connected
// to then announce the blocks it lacks (they see it as inbound).
func (e *Engine) BeaconLoop(ctx context.Context, chain session.Chain, epochs protocol.EpochConstants) {
	for {
		now := e.clock.Now()
		next := time.Unix(epochs.EpochStart(epochs.EpochAt(now.Unix())+1), 0)
		wait := max(next.Sub(now), time.Second) // never spin on a clock before epoch 0
		tick := make(chan struct{})
		t := e.clock.AfterFunc(wait, func() { close(tick) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-tick:
		}
		e.SendBeacons(chain.LastBeacon())
	}
}
