package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// A witnet-rust node as seen on the wire, written for the tests from the wire facts
// alone (docs/PROTOCOL.md sections 1, 3, 4.1, 5 and 6, checked against the witnet-rust
// vectors in protocol/testdata by TestWRClientVectors): its own framing and its own
// protobuf encoding with protowire. It shares no code with the session, codec or protocol
// packages, so that a node's plain-TCP side is tested against an independent reading of
// the protocol rather than against itself.

// Command members of Message.Command (PROTOCOL.md 3).
const (
	wrVersionCmd   protowire.Number = 1
	wrVerackCmd    protowire.Number = 2
	wrGetPeersCmd  protowire.Number = 3
	wrPeersCmd     protowire.Number = 4
	wrInvAnnCmd    protowire.Number = 6
	wrInvReqCmd    protowire.Number = 7
	wrLastBeacon   protowire.Number = 8
	wrMagicMainnet uint32           = 10700
	wrMaxFrame                      = 8 << 20 // what the client accepts; witnet-rust has no bound
)

// wrBeacon is a LastBeacon: block and superblock checkpoints with their hashes.
type wrBeacon struct {
	BlockCP, SuperCP     uint32
	BlockHash, SuperHash []byte // 32 bytes each
}

// wrVersionMsg holds the fields of a Version (PROTOCOL.md 4.1).
type wrVersionMsg struct {
	Version          uint32
	Timestamp        int64
	Capabilities     uint64
	Sender, Receiver []byte // Address.address
	UserAgent        string
	Nonce            uint64
	Beacon           wrBeacon
}

// wrAddr encodes ap as witnet-rust does (PROTOCOL.md 5): 4 IP bytes or 16, then the
// big-endian port; an IPv4-mapped IPv6 address stays 16 bytes.
func wrAddr(ap netip.AddrPort) []byte {
	var out []byte
	if ap.Addr().Is4() {
		a := ap.Addr().As4()
		out = a[:]
	} else {
		a := ap.Addr().As16()
		out = a[:]
	}
	return binary.BigEndian.AppendUint16(append([]byte(nil), out...), ap.Port())
}

// wrParseAddr decodes a 6- or 18-byte address.
func wrParseAddr(b []byte) (netip.AddrPort, error) {
	switch len(b) {
	case 6:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), binary.BigEndian.Uint16(b[4:])), nil
	case 18:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])), binary.BigEndian.Uint16(b[16:])), nil
	}
	return netip.AddrPort{}, fmt.Errorf("address of %d bytes: witnet-rust decodes only 6 or 18", len(b))
}

// wrMessage encodes a Message: magic (omitted when 0) and the command with member cmd.
func wrMessage(magic uint32, cmd protowire.Number, body []byte) []byte {
	var b []byte
	if magic != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(magic))
	}
	command := protowire.AppendBytes(protowire.AppendTag(nil, cmd, protowire.BytesType), body)
	return protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), command)
}

// wrAddressMsg encodes an Address message.
func wrAddressMsg(addr []byte) []byte {
	if len(addr) == 0 {
		return nil
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), addr)
}

func wrCheckpoint(cp uint32, hash []byte) []byte {
	var b []byte
	if cp != 0 {
		b = protowire.AppendFixed32(protowire.AppendTag(b, 1, protowire.Fixed32Type), cp)
	}
	h := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), hash)
	return protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), h)
}

func wrBeaconMsg(bc wrBeacon) []byte {
	b := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), wrCheckpoint(bc.BlockCP, bc.BlockHash))
	return protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), wrCheckpoint(bc.SuperCP, bc.SuperHash))
}

// wrVersionBody encodes a Version; message-typed fields are always written.
func wrVersionBody(v wrVersionMsg) []byte {
	var b []byte
	if v.Version != 0 {
		b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), uint64(v.Version))
	}
	if v.Timestamp != 0 {
		b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), uint64(v.Timestamp))
	}
	if v.Capabilities != 0 {
		b = protowire.AppendFixed64(protowire.AppendTag(b, 3, protowire.Fixed64Type), v.Capabilities)
	}
	b = protowire.AppendBytes(protowire.AppendTag(b, 4, protowire.BytesType), wrAddressMsg(v.Sender))
	b = protowire.AppendBytes(protowire.AppendTag(b, 5, protowire.BytesType), wrAddressMsg(v.Receiver))
	if v.UserAgent != "" {
		b = protowire.AppendString(protowire.AppendTag(b, 6, protowire.BytesType), v.UserAgent)
	}
	if v.Nonce != 0 {
		b = protowire.AppendFixed64(protowire.AppendTag(b, 7, protowire.Fixed64Type), v.Nonce)
	}
	return protowire.AppendBytes(protowire.AppendTag(b, 8, protowire.BytesType), wrBeaconMsg(v.Beacon))
}

// wrPeersBody encodes a Peers list.
func wrPeersBody(addrs [][]byte) []byte {
	var b []byte
	for _, a := range addrs {
		b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), wrAddressMsg(a))
	}
	return b
}

// wrFields calls f for each field of a protobuf message; unknown wire types fail.
func wrFields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var y uint32
			y, n = protowire.ConsumeFixed32(b)
			x = uint64(y)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			return fmt.Errorf("wire type %d", typ)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// wrParseMessage splits a Message into its magic and its command member and body.
func wrParseMessage(b []byte) (magic uint32, cmd protowire.Number, body []byte, err error) {
	var command []byte
	err = wrFields(b, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			magic = uint32(x)
		case 2:
			command = v
		}
		return nil
	})
	if err != nil {
		return 0, 0, nil, err
	}
	err = wrFields(command, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		cmd, body = num, v
		return nil
	})
	if err == nil && cmd == 0 {
		err = errors.New("message without a command")
	}
	return magic, cmd, body, err
}

// wrAddressOf reads the address bytes out of an Address message.
func wrAddressOf(b []byte) (addr []byte, err error) {
	err = wrFields(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		if num == 1 {
			addr = v
		}
		return nil
	})
	return addr, err
}

func wrParseCheckpoint(b []byte) (cp uint32, hash []byte, err error) {
	err = wrFields(b, func(num protowire.Number, _ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			cp = uint32(x)
		case 2:
			hash, err = wrAddressOf(v) // Hash{1: bytes} has the layout of Address
			return err
		}
		return nil
	})
	return cp, hash, err
}

// wrParseBeacon decodes a LastBeacon (a Version's beacon, or a LastBeacon's body).
func wrParseBeacon(b []byte) (bc wrBeacon, err error) {
	err = wrFields(b, func(num protowire.Number, _ protowire.Type, cb []byte, _ uint64) error {
		var err error
		switch num {
		case 1:
			bc.BlockCP, bc.BlockHash, err = wrParseCheckpoint(cb)
		case 2:
			bc.SuperCP, bc.SuperHash, err = wrParseCheckpoint(cb)
		}
		return err
	})
	return bc, err
}

// Errors of witnet-rust's beacon check (node/src/actors/session/handlers.rs,
// HandshakeError).
var (
	errWRDifferentEpoch  = errors.New("DifferentEpoch")
	errWRPeerBeaconOld   = errors.New("PeerBeaconOld")
	errWRDifferentHashSB = errors.New("PeerBeaconDifferentBlockHash")
)

// wrCheckBeacon is witnet-rust's check_beacon_compatibility, which the dialling side of a
// session applies to the Version beacon it receives (PROTOCOL.md 7.2): the peer's block
// checkpoint may not be past our epoch; its superblock checkpoint may not be behind ours,
// nor equal with another hash. The block hash is never compared.
func wrCheckBeacon(ours, theirs wrBeacon, epoch uint32) error {
	switch {
	case theirs.BlockCP > epoch:
		return errWRDifferentEpoch
	case ours.SuperCP < theirs.SuperCP:
		return nil
	case ours.SuperCP > theirs.SuperCP:
		return errWRPeerBeaconOld
	case !bytes.Equal(ours.SuperHash, theirs.SuperHash):
		return errWRDifferentHashSB
	}
	return nil
}

// wrParseVersion decodes a Version body; every address must have witnet-rust's lengths.
func wrParseVersion(b []byte) (v wrVersionMsg, err error) {
	err = wrFields(b, func(num protowire.Number, _ protowire.Type, raw []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			v.Version = uint32(x)
		case 2:
			v.Timestamp = int64(x)
		case 3:
			v.Capabilities = x
		case 4:
			v.Sender, err = wrAddressOf(raw)
		case 5:
			v.Receiver, err = wrAddressOf(raw)
		case 6:
			v.UserAgent = string(raw)
		case 7:
			v.Nonce = x
		case 8:
			v.Beacon, err = wrParseBeacon(raw)
		}
		return err
	})
	if err != nil {
		return v, err
	}
	for _, a := range [][]byte{v.Sender, v.Receiver} {
		if _, err := wrParseAddr(a); err != nil {
			return v, err
		}
	}
	return v, nil
}

// wrParsePeers decodes a Peers body; every address must have witnet-rust's lengths.
func wrParsePeers(b []byte) ([][]byte, error) {
	var out [][]byte
	err := wrFields(b, func(num protowire.Number, _ protowire.Type, raw []byte, _ uint64) error {
		if num != 1 {
			return nil
		}
		a, err := wrAddressOf(raw)
		if err != nil {
			return err
		}
		if _, err := wrParseAddr(a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// wrFrame frames payload: 4-byte big-endian length, then the payload (PROTOCOL.md 1).
func wrFrame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// wrClient is one plain-TCP connection of the witnet-rust stand-in.
type wrClient struct {
	t       testing.TB
	conn    *net.TCPConn
	r       *bufio.Reader
	magic   uint32
	nonce   uint64
	beacon  wrBeacon // what our Version and LastBeacons name
	writeMu sync.Mutex
}

// wrDial connects to addr from the loopback address from (127.x.y.z).
func wrDial(t testing.TB, addr net.Addr, from string) *wrClient {
	t.Helper()
	c, err := wrTryDial(t, addr, from)
	require.NoError(t, err)
	return c
}

// wrTryDial is wrDial for a connection that may be refused.
func wrTryDial(t testing.TB, addr net.Addr, from string) (*wrClient, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return wrWrap(t, c.(*net.TCPConn)), nil
}

func wrWrap(t testing.TB, c *net.TCPConn) *wrClient {
	t.Cleanup(func() { _ = c.Close() })
	// By default a beacon ahead of a fresh node's superblock, so that a node dialling us
	// accepts it.
	beacon := wrBeacon{BlockHash: make([]byte, 32), SuperCP: 1, SuperHash: make([]byte, 32)}
	return &wrClient{t: t, conn: c, r: bufio.NewReader(c), magic: wrMagicMainnet, nonce: uint64(time.Now().UnixNano()) | 1, beacon: beacon}
}

// local and remote are the socket addresses of the connection's ends.
func (c *wrClient) local() netip.AddrPort  { return c.conn.LocalAddr().(*net.TCPAddr).AddrPort() }
func (c *wrClient) remote() netip.AddrPort { return c.conn.RemoteAddr().(*net.TCPAddr).AddrPort() }

// write writes raw bytes.
func (c *wrClient) write(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

// send writes one message; a write error is returned (the node may have hung up).
func (c *wrClient) send(cmd protowire.Number, body []byte) error {
	return c.write(wrFrame(wrMessage(c.magic, cmd, body)))
}

// readFrame reads one frame within 5 s.
func (c *wrClient) readFrame() ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > wrMaxFrame {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(c.r, p)
	return p, err
}

// recv reads the next message, which must carry our magic, and returns its command.
func (c *wrClient) recv() (protowire.Number, []byte) {
	c.t.Helper()
	f, err := c.readFrame()
	require.NoError(c.t, err)
	magic, cmd, body, err := wrParseMessage(f)
	require.NoError(c.t, err)
	require.Equal(c.t, c.magic, magic)
	return cmd, body
}

// expect reads the next message, which must be a cmd.
func (c *wrClient) expect(cmd protowire.Number) []byte {
	c.t.Helper()
	got, body := c.recv()
	require.Equal(c.t, cmd, got, "command member")
	return body
}

// version is the Version this client sends: a witnet-rust node without a public address
// (0.0.0.0:0), the receiver as it sees it, our beacon.
func (c *wrClient) version() wrVersionMsg {
	return wrVersionMsg{
		Version: 1, Timestamp: time.Now().Unix(), Capabilities: 1,
		Sender: make([]byte, 6), Receiver: wrAddr(c.remote()),
		UserAgent: "witnet-rust 2.0.26", Nonce: c.nonce, Beacon: c.beacon,
	}
}

// handshakeDialer plays the dialling side (PROTOCOL.md 7.2): Version, then the node's
// Verack and Version, then our Verack. It returns the node's Version.
func (c *wrClient) handshakeDialer() wrVersionMsg {
	c.t.Helper()
	require.NoError(c.t, c.send(wrVersionCmd, wrVersionBody(c.version())))
	c.expect(wrVerackCmd)
	v, err := wrParseVersion(c.expect(wrVersionCmd))
	require.NoError(c.t, err)
	require.NoError(c.t, c.send(wrVerackCmd, nil))
	return v
}

// handshakeDialerChecked plays the dialling side as witnet-rust does, beacon check
// included: after the node's Verack and Version, our beacon is checked against the
// node's at epoch (wrCheckBeacon). If it passes, our Verack completes the handshake;
// else we hang up, as witnet-rust drops the peer, and return the check's error.
func (c *wrClient) handshakeDialerChecked(epoch uint32) (wrVersionMsg, error) {
	c.t.Helper()
	require.NoError(c.t, c.send(wrVersionCmd, wrVersionBody(c.version())))
	c.expect(wrVerackCmd)
	v, err := wrParseVersion(c.expect(wrVersionCmd))
	require.NoError(c.t, err)
	if err := wrCheckBeacon(c.beacon, v.Beacon, epoch); err != nil {
		_ = c.conn.Close()
		return v, err
	}
	require.NoError(c.t, c.send(wrVerackCmd, nil))
	return v, nil
}

// wrBlockEntries encodes an InventoryAnnouncement or InventoryRequest of Block entries
// (PROTOCOL.md 4.2): each entry a Hash in member 1.
func wrBlockEntries(hashes ...[]byte) []byte {
	var b []byte
	for _, h := range hashes {
		entry := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), wrAddressMsg(h))
		b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), entry)
	}
	return b
}

// wrParseBlockEntries decodes the block hashes of an InventoryAnnouncement or Request.
func wrParseBlockEntries(b []byte) (hashes [][]byte, err error) {
	err = wrFields(b, func(num protowire.Number, _ protowire.Type, entry []byte, _ uint64) error {
		if num != 1 {
			return nil
		}
		return wrFields(entry, func(num protowire.Number, _ protowire.Type, hash []byte, _ uint64) error {
			if num != 1 {
				return nil
			}
			h, err := wrAddressOf(hash)
			hashes = append(hashes, h)
			return err
		})
	})
	return hashes, err
}

// serveChain plays a witnet-rust node after the handshake, on a session where the node
// is our inbound peer, with a chain whose tip is the block of our beacon (block: the
// body of its Block message): our LastBeacon every interval (witnet-rust sends it each
// epoch to its inbound sessions); a LastBeacon of the node behind ours answered with an
// announcement of our tip (session_last_beacon_inbound), and a request for it with the
// block; everything else read and dropped. It runs until the test ends or the
// connection does.
func (c *wrClient) serveChain(block []byte, interval time.Duration) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	c.t.Cleanup(func() { close(done); _ = c.conn.Close(); wg.Wait() })
	go func() {
		defer wg.Done()
		for {
			f, err := c.readFrame()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				return
			}
			_, cmd, body, err := wrParseMessage(f)
			if err != nil {
				return
			}
			switch cmd {
			case wrLastBeacon:
				if theirs, err := wrParseBeacon(body); err == nil && theirs.BlockCP < c.beacon.BlockCP {
					_ = c.send(wrInvAnnCmd, wrBlockEntries(c.beacon.BlockHash))
				}
			case wrInvReqCmd:
				if hs, err := wrParseBlockEntries(body); err == nil && len(hs) == 1 && bytes.Equal(hs[0], c.beacon.BlockHash) {
					_ = c.send(wrBlockCmd, block)
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if c.send(wrLastBeacon, wrBeaconMsg(c.beacon)) != nil {
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
}

// handshakeListener plays the accepting side: the node's Version, then our Verack and
// Version, then the node's Verack. It returns the node's Version.
func (c *wrClient) handshakeListener() wrVersionMsg {
	c.t.Helper()
	v, err := wrParseVersion(c.expect(wrVersionCmd))
	require.NoError(c.t, err)
	require.NoError(c.t, c.send(wrVerackCmd, nil))
	require.NoError(c.t, c.send(wrVersionCmd, wrVersionBody(c.version())))
	c.expect(wrVerackCmd)
	return v
}

// getPeers asks for peers and returns the addresses of the reply, skipping anything
// else the node sends meanwhile (a LastBeacon, say).
func (c *wrClient) getPeers() [][]byte {
	c.t.Helper()
	require.NoError(c.t, c.send(wrGetPeersCmd, nil))
	for {
		cmd, body := c.recv()
		if cmd == wrPeersCmd {
			addrs, err := wrParsePeers(body)
			require.NoError(c.t, err, "witnet-rust could not decode this Peers")
			return addrs
		}
	}
}

// wrListener accepts the node's connections as a witnet-rust node listening on ip.
type wrListener struct {
	t  testing.TB
	ln *net.TCPListener
}

func newWRListener(t testing.TB, ip string) *wrListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(ip)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return &wrListener{t: t, ln: ln}
}

func (l *wrListener) addr() netip.AddrPort { return l.ln.Addr().(*net.TCPAddr).AddrPort() }

// accept waits up to 10 s for the node's connection.
func (l *wrListener) accept() *wrClient {
	l.t.Helper()
	require.NoError(l.t, l.ln.SetDeadline(time.Now().Add(10*time.Second)))
	c, err := l.ln.AcceptTCP()
	require.NoError(l.t, err)
	return wrWrap(l.t, c)
}

// TestWRClientVectors checks the stand-in's encoding against witnet-rust's own vectors.
func TestWRClientVectors(t *testing.T) {
	load := func(file string) map[string]json.RawMessage {
		raw, err := os.ReadFile("../protocol/testdata/" + file)
		require.NoError(t, err)
		var f struct {
			Vectors []struct {
				Name     string          `json:"name"`
				Expected json.RawMessage `json:"expected"`
			} `json:"vectors"`
		}
		require.NoError(t, json.Unmarshal(raw, &f))
		out := map[string]json.RawMessage{}
		for _, v := range f.Vectors {
			out[v.Name] = v.Expected
		}
		return out
	}
	hexOf := func(m json.RawMessage, field string) []byte {
		var x map[string]any
		require.NoError(t, json.Unmarshal(m, &x))
		b, err := hex.DecodeString(x[field].(string))
		require.NoError(t, err)
		return b
	}
	msgs := load("messages.json")
	rep := func(b byte) []byte {
		out := make([]byte, 32)
		for i := range out {
			out[i] = b
		}
		return out
	}

	// The vector's Version (test values: version 2, capabilities 4, timestamp 123).
	want := hexOf(msgs["message_version"], "bytes")
	v := wrVersionMsg{Version: 2, Timestamp: 123, Capabilities: 4,
		Sender: wrAddr(netip.MustParseAddrPort("192.168.1.1:8000")), Receiver: wrAddr(netip.MustParseAddrPort("192.168.1.2:8001")),
		UserAgent: "asdf", Nonce: 1, Beacon: wrBeacon{BlockCP: 7, BlockHash: rep(4), SuperCP: 1, SuperHash: rep(5)}}
	require.Equal(t, want, wrMessage(1, wrVersionCmd, wrVersionBody(v)))
	magic, cmd, body, err := wrParseMessage(want)
	require.NoError(t, err)
	require.Equal(t, [2]uint64{1, uint64(wrVersionCmd)}, [2]uint64{uint64(magic), uint64(cmd)})
	got, err := wrParseVersion(body)
	require.NoError(t, err)
	require.Equal(t, v, got)

	peers := hexOf(msgs["message_peers_one_ipv4"], "bytes")
	one := [][]byte{wrAddr(netip.MustParseAddrPort("192.168.1.1:8000"))}
	require.Equal(t, peers, wrMessage(0, wrPeersCmd, wrPeersBody(one)))
	require.Equal(t, hexOf(msgs["message_get_peers_magic_0"], "bytes"), wrMessage(0, wrGetPeersCmd, nil))

	frames := load("framing.json")
	frame := hexOf(frames["frame_encode_48_byte_payload"], "frame")
	require.Equal(t, frame, wrFrame(frame[4:]))

	addrs := load("addresses.json")
	require.Equal(t, hexOf(addrs["address_bytes_ipv4_in_peers"], "address_bytes"), one[0])
	require.Len(t, wrAddr(netip.MustParseAddrPort("[::ffff:1.2.3.4]:21337")), 18, "a mapped address stays IPv6")
}
