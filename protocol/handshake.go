package protocol

import (
	"bytes"
	"fmt"
	"math"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// HandshakeError is why a received Version is refused (PROTOCOL.md 7.2). It is both the Go error
// and a small integer fit for a metric label; the names are witnet-rust's.
type HandshakeError uint8

// Handshake errors, in the order the checks run.
const (
	// DifferentTimestamp: the peer's clock is more than the allowed drift from ours.
	DifferentTimestamp HandshakeError = iota + 1
	// DifferentEpoch: the peer's block beacon is beyond our current epoch.
	DifferentEpoch
	// PeerBeaconOld: the peer's superblock beacon is behind ours.
	PeerBeaconOld
	// PeerBeaconDifferentBlockHash: same superblock index as ours, different superblock hash.
	PeerBeaconDifferentBlockHash
)

var handshakeErrorNames = [...]string{
	DifferentTimestamp:           "DifferentTimestamp",
	DifferentEpoch:               "DifferentEpoch",
	PeerBeaconOld:                "PeerBeaconOld",
	PeerBeaconDifferentBlockHash: "PeerBeaconDifferentBlockHash",
}

// String returns witnet-rust's name of the error, e.g. "PeerBeaconOld".
func (e HandshakeError) String() string {
	if int(e) < len(handshakeErrorNames) && handshakeErrorNames[e] != "" {
		return handshakeErrorNames[e]
	}
	return fmt.Sprintf("HandshakeError(%d)", uint8(e))
}

// Error implements error.
func (e HandshakeError) Error() string { return "protocol: handshake: " + e.String() }

// superblockUpdateModulus is the hard-coded 10 of witnet-rust's "do not ice on a beacon
// mismatch during a superblock-update epoch" rule (PROTOCOL.md 7.3, 13.8); it is not tied to the
// configured superblock period.
const superblockUpdateModulus = 10

// Ices reports whether this failure puts the peer's address in the ice bucket when it
// happens at currentEpoch. Timestamp and epoch errors always ice; beacon mismatches
// (PeerBeaconOld, PeerBeaconDifferentBlockHash) do not in epochs that are multiples of 10,
// when superblock beacons legitimately disagree for a while.
func (e HandshakeError) Ices(currentEpoch uint32) bool {
	switch e {
	case PeerBeaconOld, PeerBeaconDifferentBlockHash:
		return currentEpoch%superblockUpdateModulus != 0
	default:
		return true
	}
}

// CheckTimestamp applies the handshake clock-drift rule: received (the peer's Version
// timestamp) must lie in [now−maxDiff, now+maxDiff], inclusive, with saturating arithmetic
// so that int64 extremes neither wrap nor pass. maxDiff 0 disables the check (witnet-rust's
// handshake_max_ts_diff = 0); a negative maxDiff is a configuration error and fails closed
// (every timestamp is refused). The error is DifferentTimestamp.
func CheckTimestamp(received, now, maxDiff int64) error {
	if maxDiff == 0 {
		return nil
	}
	if maxDiff < 0 {
		return DifferentTimestamp
	}
	if received < satSub(now, maxDiff) || received > satAdd(now, maxDiff) {
		return DifferentTimestamp
	}
	return nil
}

// TimestampDiff returns received − now, saturated to the int64 range, for logs.
func TimestampDiff(received, now int64) int64 { return satSub(received, now) }

func satAdd(a, b int64) int64 {
	s := a + b
	// Overflow happened iff a and b have the same sign and s has the other.
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		if a >= 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b // a < 0: a − MinInt64 = a + 2^63 fits
	}
	return satAdd(a, -b)
}

// CheckBeacon applies the beacon-compatibility rule of an outbound or feeler handshake
// (PROTOCOL.md 7.2; never run for inbound sessions). current is our LastBeacon, received the
// peer's Version.beacon, currentEpoch our epoch now (EpochConstants.EpochAt), and target the
// superblock consensus target beacon if the node has one, else nil (then our own
// highest_superblock_checkpoint stands in):
//
//   - the peer's block checkpoint beyond currentEpoch → DifferentEpoch;
//   - our superblock checkpoint above the peer's → PeerBeaconOld;
//   - equal checkpoints with different hashes → PeerBeaconDifferentBlockHash;
//   - otherwise (peer ahead, or same superblock) nil. Block hashes are never compared.
//
// Missing sub-messages read as zero values, as in a decoded message they cannot be missing.
func CheckBeacon(current, received *pb.LastBeacon, currentEpoch uint32, target *pb.CheckpointBeacon) error {
	if received.GetHighestBlockCheckpoint().GetCheckpoint() > currentEpoch {
		return DifferentEpoch
	}
	mine := target
	if mine == nil {
		mine = current.GetHighestSuperblockCheckpoint()
	}
	theirs := received.GetHighestSuperblockCheckpoint()
	switch {
	case mine.GetCheckpoint() < theirs.GetCheckpoint():
		return nil
	case mine.GetCheckpoint() > theirs.GetCheckpoint():
		return PeerBeaconOld
	case bytes.Equal(mine.GetHashPrevBlock().GetSHA256(), theirs.GetHashPrevBlock().GetSHA256()):
		return nil
	default:
		return PeerBeaconDifferentBlockHash
	}
}

// EpochConstants hold what the epoch computation needs for one network (PROTOCOL.md 7.7).
type EpochConstants struct {
	// CheckpointZeroTimestamp is the UNIX time at which epoch 0 starts.
	CheckpointZeroTimestamp int64
	// CheckpointsPeriod is the epoch length in seconds before V2.0.
	CheckpointsPeriod uint32
	// V2Epoch is the first epoch of V2.0; 0 means V2.0 is never activated.
	V2Epoch uint32
	// V2Period is the epoch length in seconds from V2Epoch on.
	V2Period uint32
}

// Epoch constants of the public networks.
var (
	// MainnetEpochs: epoch 0 at 2020-10-14 09:00 UTC, 45 s epochs, V2.0 (20 s epochs) from
	// epoch 3 108 950, which starts at 1 742 568 750 (2025-03-21 14:52:30 UTC).
	MainnetEpochs = EpochConstants{CheckpointZeroTimestamp: 1_602_666_000, CheckpointsPeriod: 45, V2Epoch: 3_108_950, V2Period: 20}
	// TestnetEpochs: epoch 0 at 1 754 997 300, 45 s epochs (the default period), V2.0 with
	// 20 s epochs from epoch 60.
	TestnetEpochs = EpochConstants{CheckpointZeroTimestamp: 1_754_997_300, CheckpointsPeriod: 45, V2Epoch: 60, V2Period: 20}
)

// v2Start returns the UNIX time at which V2Epoch starts, and whether V2.0 is configured.
func (c EpochConstants) v2Start() (int64, bool) {
	if c.V2Epoch == 0 || c.V2Period == 0 {
		return 0, false
	}
	return satAdd(c.CheckpointZeroTimestamp, int64(c.V2Epoch)*int64(c.CheckpointsPeriod)), true
}

// EpochAt returns the epoch in force at the UNIX time unix: 0 before epoch 0,
// (unix − zero) / CheckpointsPeriod before V2.0, and V2Epoch + (unix − t2) / V2Period from
// t2 = zero + V2Epoch × CheckpointsPeriod on. The result saturates at MaxUint32; a zero
// period yields 0.
func (c EpochConstants) EpochAt(unix int64) uint32 {
	if unix < c.CheckpointZeroTimestamp || c.CheckpointsPeriod == 0 {
		return 0
	}
	var epoch uint64
	if t2, ok := c.v2Start(); ok && unix >= t2 {
		epoch = uint64(c.V2Epoch) + uint64(unix-t2)/uint64(c.V2Period)
	} else {
		epoch = uint64(satSub(unix, c.CheckpointZeroTimestamp)) / uint64(c.CheckpointsPeriod)
	}
	if epoch > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(epoch)
}

// EpochStart returns the UNIX time at which epoch starts (the inverse of EpochAt),
// saturated to the int64 range.
func (c EpochConstants) EpochStart(epoch uint32) int64 {
	if t2, ok := c.v2Start(); ok && epoch >= c.V2Epoch {
		return satAdd(t2, int64(epoch-c.V2Epoch)*int64(c.V2Period))
	}
	return satAdd(c.CheckpointZeroTimestamp, int64(epoch)*int64(c.CheckpointsPeriod))
}

// Genesis and bootstrap hashes (PROTOCOL.md section 10): the consensus constants genesis_hash
// of each public network and bootstrap_hash, which is the same on every network.
var (
	// MainnetGenesisHash is mainnet's genesis_hash.
	MainnetGenesisHash = mustHash("6ca267d9accde3336739331d42d63509b799c6431e8d02b2d2cc9d3943d7ab02")
	// TestnetGenesisHash is testnet's genesis_hash.
	TestnetGenesisHash = mustHash("1eed88826bdaf4b1f222bf19c0ebd372d2f6a6af2f23430fc22ee0d0911d8db0")
	// BootstrapHash is bootstrap_hash (all networks).
	BootstrapHash = mustHash("666564676f6573627272727c2f3030312f3738392f3432382f6130312e676966")
)

func mustHash(s string) Hash {
	h, err := ParseHash(s)
	if err != nil {
		panic(err)
	}
	return h
}
