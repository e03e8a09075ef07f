package peers

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIndexCrossCheck compares the index functions with values computed by a separate,
// independent implementation of PROTOCOL.md 9.2 (a short Python script using hashlib and
// ipaddress, written for this test), for IPv4, IPv6, mixed families and an IPv4-mapped
// IPv6 address, which must stay 16 bytes.
func TestIndexCrossCheck(t *testing.T) {
	const sk1 = 0x0123456789abcdef
	tests := []struct {
		sk        uint64
		addr, src string
		newIdx    uint16
		triedIdx  uint16
	}{
		{0, "192.168.1.1:21337", "127.0.0.1:21337", 3364, 3582},
		{0, "[2001:db8::1]:21337", "10.1.2.3:4000", 10494, 2743},
		{0, "8.8.8.8:53", "[2001:db8:1::5]:21337", 2728, 3024},
		{0, "[::ffff:1.2.3.4]:80", "1.2.3.4:80", 4757, 1663},
		{sk1, "192.168.1.1:21337", "127.0.0.1:21337", 5073, 3479},
		{sk1, "[2001:db8::1]:21337", "10.1.2.3:4000", 6122, 3863},
		{sk1, "8.8.8.8:53", "[2001:db8:1::5]:21337", 14942, 2136},
		{sk1, "[::ffff:1.2.3.4]:80", "1.2.3.4:80", 14491, 2556},
	}
	for _, tc := range tests {
		t.Run(tc.addr+"/"+tc.src, func(t *testing.T) {
			sk := newSecret(tc.sk)
			ep, src := mustEP(t, tc.addr), mustEP(t, tc.src)
			require.Equal(t, tc.newIdx, newIndex(&sk, ep, src))
			require.Equal(t, tc.triedIdx, triedIndex(&sk, ep))
		})
	}
}

// TestIndexRange checks that indices stay inside their tables and that the bucket of a
// new index depends only on the source group and the address group (PROTOCOL.md 9.2).
func TestIndexRange(t *testing.T) {
	sk := newSecret(42)
	src := mustEP(t, "10.20.30.40:1")
	for port := uint16(1); port < 2000; port += 7 {
		ep := mustEP(t, "172.16.5.9:1")
		ep = netipAddrPort(ep, port)
		ni, ti := newIndex(&sk, ep, src), triedIndex(&sk, ep)
		require.Less(t, int(ni), NewCapacity)
		require.Less(t, int(ti), TriedCapacity)
		// Same /16 and same source group: always the same new bucket.
		other := mustEP(t, "172.16.200.1:9")
		require.Equal(t, ni/newBucketSize, newIndex(&sk, other, src)/newBucketSize)
	}
}
