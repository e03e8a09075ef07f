package session

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// FuzzSession feeds a session arbitrary bytes from its peer over an in-memory pipe. The
// first byte picks the session type (inbound, outbound, feeler); the rest is the byte
// stream the peer writes, framing included, after which the peer hangs up. The seed
// corpus (testdata/fuzz/FuzzSession, written by TestWriteSessionFuzzSeeds) holds complete
// handshakes followed by every kind of message, and the hostile inputs of the hardening
// suite, so the fuzzer starts past the handshake.
//
// Whatever the input, the session must end (the peer hung up) without a panic, with a
// known Reason, icing the peer exactly when that reason says so, and unregistering
// exactly once if it registered.
func FuzzSession(f *testing.F) {
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		typ := Type(data[0] % 3)
		stream := data[1:]

		// In a synctest bubble: a session that never ends fails at once (virtual time), and
		// so does any goroutine it leaves behind.
		synctest.Test(t, func(t *testing.T) {
			e := fuzzEnv()
			c1, c2 := net.Pipe()
			drained := make(chan struct{})
			go func() { // the peer reads whatever the session sends
				defer close(drained)
				_, _ = io.Copy(io.Discard, c2)
			}()
			s := New(c1, testPeer(t, 1), typ, e.cfg)
			s.Start()
			_, _ = c2.Write(stream) // returns early with an error if the session ends first
			_ = c2.Close()

			select {
			case <-s.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("session still running after its peer hung up")
			}
			<-drained

			err := s.Err()
			r := ReasonOf(err)
			if r == ReasonNone || r >= numReasons {
				t.Fatalf("ended with %v (reason %d)", err, r)
			}
			iced := e.book.icedCount()
			if want := r.Ices(typ); (iced == 1) != want || iced > 1 {
				t.Fatalf("reason %v (ices=%v) but the peer was iced %d times", err, want, iced)
			}
			registered, _, unregistered := e.reg.snapshot()
			switch {
			case typ == Feeler && (registered != 0 || len(unregistered) != 0):
				t.Fatal("a feeler touched the registry")
			case typ != Feeler && len(unregistered) != registered:
				t.Fatalf("registered %d times, unregistered %d times", registered, len(unregistered))
			}
		})
	})
}

// fuzzEnv is the environment of a fuzzed session: fakes with a few addresses and items,
// no timestamp check (fuzzed Versions carry any time), and an epoch far ahead so that
// beacons pass.
func fuzzEnv() *fakeEnv {
	e := newEnv(NewFakeClock(t0))
	e.cfg.MaxTimestampDiff = -1
	e.cfg.MaxFrameSize = 1 << 16
	e.chain.epoch = 1 << 30
	e.book.tried = [][]byte{protocol.LegacyAddress(netip.MustParseAddrPort("10.1.2.3:21337"))}
	e.inv.hold(protocol.BlockEntry(protocol.Hash{1}), testBlock(3).GetKind())
	return e
}

// frames encodes messages as the peer would write them.
func frames(t testing.TB, msgs ...*pb.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := codec.NewWriter(&buf, 0)
	for _, m := range msgs {
		b, err := protocol.Marshal(m)
		require.NoError(t, err)
		require.NoError(t, w.Append(b))
	}
	require.NoError(t, w.Flush())
	return buf.Bytes()
}

// rawFrame frames an arbitrary payload.
func rawFrame(payload []byte) []byte {
	var buf bytes.Buffer
	_ = codec.NewWriter(&buf, 0).WriteFrame(payload)
	return buf.Bytes()
}

// sessionSeeds are the seed inputs of FuzzSession, by file name.
func sessionSeeds(t testing.TB) map[string][]byte {
	clock := NewFakeClock(t0)
	version := peerVersion(clock, nil, 42)
	version.GetKind().GetVersion().UserAgent = "fuzz seed" // not our release's, so seeds stay put
	verack := protocol.NewVerack(protocol.Magic)
	in := frames(t, version, verack)  // an inbound session's peer: Version, Verack
	out := frames(t, verack, version) // an outbound or feeler session's peer
	ann, err := protocol.NewInventoryAnnouncement(protocol.Magic, []*pb.InventoryEntry{
		protocol.BlockEntry(protocol.Hash{1}), protocol.BlockEntry(protocol.Hash{2}), protocol.TxEntry(protocol.Hash{3}),
	})
	require.NoError(t, err)
	req, err := protocol.NewInventoryRequest(protocol.Magic, []*pb.InventoryEntry{
		protocol.BlockEntry(protocol.Hash{1}), protocol.BlockEntry(protocol.Hash{9}),
	})
	require.NoError(t, err)
	badMagic := protocol.NewGetPeers(protocol.Magic)
	badMagic.Magic = 7
	everything := frames(t, protocol.NewGetPeers(protocol.Magic), protocol.NewLastBeacon(protocol.Magic, nil), ann, req,
		testBlock(5), testTx(5), testSuperBlock(2), protocol.NewSuperBlockVote(protocol.Magic, testVote(2)),
		verack, version)

	cat := func(mode byte, parts ...[]byte) []byte {
		return append([]byte{mode}, bytes.Join(parts, nil)...)
	}
	noise := make([]byte, 64)
	for i := range noise {
		noise[i] = byte(i*151 + 7)
	}
	return map[string][]byte{
		"inbound_every_kind":          cat(byte(Inbound), in, everything),
		"outbound_every_kind":         cat(byte(Outbound), out, everything),
		"feeler_handshake":            cat(byte(Feeler), out),
		"inbound_unsolicited_peers":   cat(byte(Inbound), in, frames(t, protocol.NewPeers(protocol.Magic, nil))),
		"inbound_before_handshake":    cat(byte(Inbound), frames(t, protocol.NewGetPeers(protocol.Magic), ann, verack, version)),
		"inbound_repeated_version":    cat(byte(Inbound), frames(t, version, version, verack, verack)),
		"inbound_bad_magic":           cat(byte(Inbound), in, frames(t, badMagic)),
		"inbound_frame_too_large":     cat(byte(Inbound), in, []byte{0xff, 0xff, 0xff, 0xff}),
		"inbound_truncated_frame":     cat(byte(Inbound), in, rawFrame(noise)[:20]),
		"inbound_empty_frame":         cat(byte(Inbound), in, rawFrame(nil)),
		"inbound_random_payload":      cat(byte(Inbound), in, rawFrame(noise)),
		"outbound_version_no_verack":  cat(byte(Outbound), frames(t, version)),
		"inbound_inventory_no_blocks": cat(byte(Inbound), in, frames(t, ann)),
	}
}

// TestWriteSessionFuzzSeeds rewrites testdata/fuzz/FuzzSession from sessionSeeds when
// WITNET_P2P_WRITE_SEEDS=1; otherwise it checks that the committed files match, so a
// change of the wire format cannot silently leave stale seeds behind.
func TestWriteSessionFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzSession")
	write := os.Getenv("WITNET_P2P_WRITE_SEEDS") == "1"
	if write {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for name, data := range sessionSeeds(t) {
		file := filepath.Join(dir, name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		if write {
			require.NoError(t, os.WriteFile(file, []byte(want), 0o644))
			continue
		}
		got, err := os.ReadFile(file)
		require.NoError(t, err, "run with WITNET_P2P_WRITE_SEEDS=1 to write the seeds")
		require.Equal(t, want, string(got), "seed %s is stale; rewrite with WITNET_P2P_WRITE_SEEDS=1", name)
	}
}
