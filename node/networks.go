package node

import "net/netip"

// mainnetKnownPeers are the known_peers of witnet-rust's shipped mainnet configuration
// (witnet.toml, witnet-rust 2.0.26): the witnet-rust nodes a new node dials first.
var mainnetKnownPeers = [...]string{
	"5.9.5.85:22339",
	"5.9.20.188:22386",
	"38.242.204.144:21333",
	"45.130.104.29:21336",
	"45.43.29.118:16",
	"51.255.51.101:21337",
	"51.255.51.101:21338",
	"52.166.178.145:21337",
	"52.166.178.145:22337",
	"173.249.3.178:21337",
	"66.94.112.65:21337",
	"66.94.112.71:21337",
	"85.208.51.169:21337",
	"88.198.31.248:22380",
	"89.58.11.231:21337",
	"94.130.66.3:22378",
	"103.219.154.96:21337",
	"136.243.22.47:22339",
	"144.76.57.252:22365",
	"148.251.153.67:22387",
	"154.53.51.17:21332",
	"161.97.65.252:21337",
	"162.55.233.238:22339",
	"167.86.125.10:21332",
	"173.249.3.178:22337",
	"173.249.8.65:20337",
	"173.249.8.65:21337",
	"173.249.27.241:21337",
	"173.249.63.214:21337",
	"185.208.206.52:21333",
	"193.26.159.13:21337",
	"194.163.137.36:21333",
	"195.201.164.199:22375",
	"207.180.206.216:21333",
	"209.126.13.170:21332",
	"209.145.54.183:21333",
}

// MainnetKnownPeers returns witnet-rust's mainnet known_peers, the plain-TCP peers
// WithNetwork(NetworkMainnet) dials (a new slice each call).
func MainnetKnownPeers() []netip.AddrPort {
	out := make([]netip.AddrPort, len(mainnetKnownPeers))
	for i, s := range mainnetKnownPeers {
		out[i] = netip.MustParseAddrPort(s)
	}
	return out
}
