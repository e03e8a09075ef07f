// Package natlab is the NAT lab: a small Internet in Linux network namespaces, in which
// real witnet-p2p processes run behind home-router NATs, so that the NAT traversal of
// the node (AutoNAT, relays, hole punching) is tested end to end.
//
// The lab is one namespace holding a bridge (the "Internet"), public hosts on it, and
// routers on it with a private host behind each. Every public host and router WAN address
// lies in its own /18 of 7.0.0.0/8, addresses that libp2p counts as public (it will not
// hole punch or AutoNAT-test private ranges) and that the sybil rule sees as different
// ranges. A router masquerades its LAN behind its WAN address, port-preserving or with
// random ports (a symmetric NAT), and its firewall drops unsolicited WAN packets as a home
// router does. There is no route out of the lab: no default route, nothing in the host's
// namespace (every veth pair is created inside the lab's namespaces).
//
// Nodes are `witnet-p2p run` processes started with nsenter in their namespace and driven
// through their JSON-RPC, which the test reaches by opening its sockets inside the
// namespace. The lab needs root, iproute2, iptables and nsenter; its tests run only when
// WITNET_NATLAB is set (.ci/run sets it) and skip, saying why, otherwise.
package natlab
