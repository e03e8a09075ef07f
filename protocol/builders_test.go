package protocol

import (
	"encoding/hex"
	"net/netip"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

func exampleSuperBlock() *pb.SuperBlock {
	return &pb.SuperBlock{
		SigningCommitteeLength:        3,
		ArsRoot:                       NewHashPB(Hash{1}),
		DataRequestRoot:               NewHashPB(Hash{2}),
		Index:                         1,
		LastBlock:                     NewHashPB(Hash{3}),
		LastBlockInPreviousSuperblock: NewHashPB(Hash{4}),
		TallyRoot:                     NewHashPB(Hash{5}),
	}
}

func exampleVote() *pb.SuperBlockVote {
	return &pb.SuperBlockVote{
		Bn256Signature: &pb.Bn256Signature{Signature: []byte{1, 2, 3}},
		Secp256K1Signature: &pb.KeyedSignature{
			Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: []byte{0x30, 0x00}}}},
			PublicKey: &pb.PublicKey{PublicKey: append([]byte{0x02}, make([]byte, 32)...)},
		},
		SuperblockHash:  NewHashPB(Hash{7}),
		SuperblockIndex: 1,
	}
}

// TestBuildersRoundTrip checks every builder: the message validates, its bytes are the
// canonical encoding (every singular sub-message set), and Unmarshal gives it back.
func TestBuildersRoundTrip(t *testing.T) {
	id := testPeerID(t)
	maddr, err := MultiaddrAddress(ma.StringCast("/ip4/203.0.113.5/tcp/4001/p2p/" + id.String()))
	require.NoError(t, err)
	ann, err := NewInventoryAnnouncement(Magic, []*pb.InventoryEntry{BlockEntry(Hash{1}), TxEntry(Hash{2}), SuperBlockEntry(0)})
	require.NoError(t, err)
	req, err := NewInventoryRequest(Magic, []*pb.InventoryEntry{BlockEntry(Hash{3})})
	require.NoError(t, err)

	tests := []struct {
		name string
		m    *pb.Message
		kind Kind
	}{
		{"Version", exampleVersion(), KindVersion},
		{"VersionDefaults", NewVersion(VersionParams{Magic: Magic, Timestamp: -5}), KindVersion},
		{"VersionMultiaddr", NewVersion(VersionParams{Magic: Magic, Sender: maddr, Receiver: maddr}), KindVersion},
		{"Verack", NewVerack(Magic), KindVerack},
		{"GetPeers", NewGetPeers(Magic), KindGetPeers},
		{"PeersEmpty", NewPeers(Magic, nil), KindPeers},
		{"Peers", NewPeers(Magic, [][]byte{
			LegacyAddress(netip.MustParseAddrPort("192.168.1.1:8000")),
			LegacyAddress(netip.MustParseAddrPort("[2001:db8::1]:21337")),
			maddr,
		}), KindPeers},
		{"InventoryAnnouncement", ann, KindInventoryAnnouncement},
		{"InventoryRequest", req, KindInventoryRequest},
		{"Block", NewBlock(Magic, exampleBlock(t)), KindBlock},
		{"Transaction", NewTransaction(Magic, exampleTransaction(t)), KindTransaction},
		{"SuperBlock", NewSuperBlock(Magic, exampleSuperBlock()), KindSuperBlock},
		{"SuperBlockVote", NewSuperBlockVote(Magic, exampleVote()), KindSuperBlockVote},
		{"LastBeacon", NewLastBeacon(Magic, NewLastBeaconPB(NewCheckpointBeacon(9, Hash{9}), nil)), KindLastBeacon},
		{"LastBeaconNil", NewLastBeacon(Magic, nil), KindLastBeacon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, uint32(Magic), tt.m.GetMagic())
			require.Equal(t, tt.kind, KindOf(tt.m))
			require.NoError(t, Validate(tt.m))

			b, err := Marshal(tt.m)
			require.NoError(t, err)
			canon, err := CanonicalBytes(tt.m)
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(canon), hex.EncodeToString(b), "builder left a sub-message nil")

			got, err := Unmarshal(b)
			require.NoError(t, err)
			require.True(t, proto.Equal(tt.m, got), "round trip:\nwant %v\ngot  %v", tt.m, got)
		})
	}
}

func TestNewVersionFields(t *testing.T) {
	beacon := NewLastBeaconPB(NewCheckpointBeacon(10, Hash{1}), NewCheckpointBeacon(1, Hash{2}))
	m := NewVersion(VersionParams{Magic: 7, Timestamp: 123, Nonce: 42, Beacon: beacon,
		Sender: LegacyAddress(netip.MustParseAddrPort("1.2.3.4:5"))})
	v := m.GetKind().GetVersion()
	require.Equal(t, uint32(7), m.GetMagic())
	require.Equal(t, HandshakeVersion, v.GetVersion())
	require.Equal(t, Capabilities, v.GetCapabilities())
	require.Equal(t, UserAgent(), v.GetUserAgent())
	require.Equal(t, int64(123), v.GetTimestamp())
	require.Equal(t, uint64(42), v.GetNonce())
	require.Equal(t, "010203040005", hex.EncodeToString(v.GetSenderAddress().GetAddress()))
	require.Equal(t, make([]byte, 6), v.GetReceiverAddress().GetAddress(), "nil receiver is 0.0.0.0:0")
	require.True(t, proto.Equal(beacon, v.GetBeacon()))

	// The beacon is copied: later changes to the caller's value do not leak into the message.
	beacon.HighestBlockCheckpoint.Checkpoint = 99
	require.Equal(t, uint32(10), v.GetBeacon().GetHighestBlockCheckpoint().GetCheckpoint())

	// A nil beacon is a zero beacon with zero hashes, which validates.
	zero := NewVersion(VersionParams{}).GetKind().GetVersion().GetBeacon()
	require.Equal(t, make([]byte, 32), zero.GetHighestSuperblockCheckpoint().GetHashPrevBlock().GetSHA256())
}

func TestInventoryBuilderErrors(t *testing.T) {
	for name, build := range map[string]func(uint16, []*pb.InventoryEntry) (*pb.Message, error){
		"announcement": NewInventoryAnnouncement,
		"request":      NewInventoryRequest,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := build(Magic, nil)
			require.ErrorIs(t, err, ErrEmptyInventory)
			_, err = build(Magic, []*pb.InventoryEntry{})
			require.ErrorIs(t, err, ErrEmptyInventory)
			_, err = build(Magic, []*pb.InventoryEntry{BlockEntry(Hash{}), nil})
			require.ErrorIs(t, err, ErrInvalidEntry)
			_, err = build(Magic, []*pb.InventoryEntry{{}})
			require.ErrorIs(t, err, ErrInvalidEntry)
			_, err = build(Magic, make([]*pb.InventoryEntry, MaxInventoryEntries+1))
			require.ErrorIs(t, err, ErrTooManyEntries)
		})
	}
}

func TestEntryBytes(t *testing.T) {
	tests := []struct {
		e    *pb.InventoryEntry
		want string
	}{
		// A set oneof member is written even when zero (PROTOCOL.md 2, rule 4).
		{SuperBlockEntry(0), "1800"},
		{SuperBlockEntry(300), "18ac02"},
		{BlockEntry(Hash{0xab}), "0a220a20ab" + hex.EncodeToString(make([]byte, 31))},
		{TxEntry(Hash{0xcd}), "12220a20cd" + hex.EncodeToString(make([]byte, 31))},
	}
	for _, tt := range tests {
		b, err := proto.Marshal(tt.e)
		require.NoError(t, err)
		require.Equal(t, tt.want, hex.EncodeToString(b))
	}
}

func TestNewHashPBCopies(t *testing.T) {
	h := Hash{1, 2, 3}
	p := NewHashPB(h)
	h[0] = 9
	require.Equal(t, byte(1), p.GetSHA256()[0])
	require.Len(t, p.GetSHA256(), HashSize)
}

func TestRandomNonce(t *testing.T) {
	seen := map[uint64]bool{}
	for range 64 {
		seen[RandomNonce()] = true
	}
	// 64 draws of a uniform uint64 collide with negligible probability.
	require.Len(t, seen, 64)
}
