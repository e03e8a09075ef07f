// Package hostlimits derives the libp2p host's connection and resource limits from the
// session limits (inbound_limit and outbound_limit), and logs every refusal with the
// limit that caused it.
//
// libp2p.New installs, unless told otherwise, a connection manager that trims to 160
// connections above 192 and a resource manager whose limits scale with the machine's
// memory (252 inbound connections on a 2-core box) and allow 8 connections per IP. Neither
// knows our session limits, and a connection either of them refuses shows up at the
// dialler as "failed to negotiate security protocol". Derive computes the limits,
// NewConnManager and NewResourceManager build the two managers from them. The resource
// manager also caps the session protocol's streams per peer, so one peer cannot open
// hundreds of sessions at once.
//
// An inbound connection has no peer ID until its security handshake ends, so libp2p's
// default lets one address hold every handshake slot for its 15 s accept timeout. Here the
// upgrade gets DefaultUpgradeTimeout (UpgraderOption), and the connections still in it are
// capped per address and per subnet (the ResourceManager counts them from the accepted
// socket until Gater sees the upgraded connection, or the connection ends), under a
// handshake headroom several subnets wide.
package hostlimits
