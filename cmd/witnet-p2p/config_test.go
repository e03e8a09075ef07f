package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/session"
)

// resolveWith runs a bare app with the run flags and returns the resolved configuration.
func resolveWith(t *testing.T, args ...string) (runConfig, error) {
	t.Helper()
	var rc runConfig
	var rerr error
	app := &cli.App{
		Name:  "test",
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			rc, rerr = resolveRun(c)
			return nil
		},
	}
	require.NoError(t, app.Run(append([]string{"test"}, args...)))
	return rc, rerr
}

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.toml")
	require.NoError(t, os.WriteFile(file, []byte(`
data-dir = "/from/file"
listen = ["/ip4/127.0.0.1/tcp/1000"]
bootstrap = ["/ip4/1.1.1.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"]
inbound-limit = 7
outbound-limit = 3
rpc-addr = "127.0.0.1:9999"
feeler-period = "250ms"
ice-period = "10m"
log-level = "debug"
peer-message-rate = 250.5
write-timeout = "3s"
misbehaviour-threshold = -1
receive-message-rate = 0
`), 0o600))

	// Defaults only.
	rc, err := resolveWith(t)
	require.NoError(t, err)
	require.Equal(t, ".witnet-p2p", rc.dataDir)
	require.Empty(t, rc.listen)
	require.Equal(t, 128, rc.inboundLimit)
	require.Equal(t, 2*time.Second, rc.feelerPeriod)
	require.Zero(t, rc.icePeriod)
	require.Equal(t, float64(session.DefaultMessageRate), rc.peerMessageRate)
	require.Equal(t, float64(session.DefaultByteRate), rc.peerByteRate)
	require.Equal(t, session.DefaultMisbehaviourThreshold, rc.misbehaviour)
	require.Equal(t, session.DefaultWriteTimeout, rc.writeTimeout)
	require.Equal(t, float64(session.DefaultNodeMessageRate), rc.nodeMessageRate)
	require.Equal(t, float64(session.DefaultNodeByteRate), rc.nodeByteRate)

	// The file over the defaults.
	rc, err = resolveWith(t, "--config", file)
	require.NoError(t, err)
	require.Equal(t, "/from/file", rc.dataDir)
	require.Equal(t, []string{"/ip4/127.0.0.1/tcp/1000"}, rc.listen)
	require.Len(t, rc.bootstrap, 1)
	require.Equal(t, 7, rc.inboundLimit)
	require.Equal(t, 3, rc.outboundLimit)
	require.Equal(t, "127.0.0.1:9999", rc.rpcAddr)
	require.Equal(t, 250*time.Millisecond, rc.feelerPeriod)
	require.Equal(t, 10*time.Minute, rc.icePeriod)
	require.Equal(t, "debug", rc.logLevel)
	require.Equal(t, 15*time.Second, rc.bootstrapPeriod, "unset in the file: default")
	require.Equal(t, 250.5, rc.peerMessageRate)
	require.Equal(t, 3*time.Second, rc.writeTimeout)
	require.Equal(t, -1, rc.misbehaviour)
	require.Zero(t, rc.nodeMessageRate)

	// The environment over the file, flags over the environment.
	t.Setenv("WITNET_P2P_INBOUND_LIMIT", "9")
	t.Setenv("WITNET_P2P_DATA_DIR", "/from/env")
	t.Setenv("WITNET_P2P_LISTEN", "/ip4/127.0.0.1/tcp/2000,/ip4/127.0.0.1/udp/2000/quic-v1")
	rc, err = resolveWith(t, "--config", file, "--data-dir", "/from/flag")
	require.NoError(t, err)
	require.Equal(t, 9, rc.inboundLimit)
	require.Equal(t, "/from/flag", rc.dataDir)
	require.Equal(t, []string{"/ip4/127.0.0.1/tcp/2000", "/ip4/127.0.0.1/udp/2000/quic-v1"}, rc.listen)
	opts, err := rc.options()
	require.NoError(t, err)
	require.NotEmpty(t, opts)

	// The config file itself can come from the environment.
	t.Setenv("WITNET_P2P_CONFIG", file)
	rc, err = resolveWith(t)
	require.NoError(t, err)
	require.Equal(t, 3, rc.outboundLimit)
}

func TestResolveFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tests := []struct {
		name, content, want string
	}{
		{"unknown key", "inbound = 3\n", "unknown keys: inbound"},
		{"bad type", "inbound-limit = \"x\"\n", "inbound-limit"},
		{"bad duration", "feeler-period = \"soon\"\n", "soon"},
		{"not toml", "= =\n", "config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveWith(t, "--config", write(tc.name+".toml", tc.content))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	base := runConfig{dataDir: "d", magic: 10700, handshakeTimeout: time.Second, inboundLimit: 1, outboundLimit: 1,
		peerMessageRate: 1000, peerByteRate: 1 << 20, misbehaviour: 100, writeTimeout: time.Second}
	tests := []struct {
		name string
		edit func(*runConfig)
		want string
	}{
		{"listen", func(rc *runConfig) { rc.listen = []string{"/nope"} }, "--listen"},
		{"empty listen", func(rc *runConfig) { rc.listen = []string{" , "} }, "no address given"},
		{"announce", func(rc *runConfig) { rc.announce = []string{"x"} }, "--announce"},
		{"bootstrap without id", func(rc *runConfig) { rc.bootstrap = []string{"/ip4/1.2.3.4/tcp/1"} }, "/p2p/"},
		{"magic zero", func(rc *runConfig) { rc.magic = 0 }, "--magic"},
		{"magic too big", func(rc *runConfig) { rc.magic = 1 << 16 }, "--magic"},
		{"unknown network", func(rc *runConfig) { rc.network = "devnet" }, "--network"},
		{"zero write timeout", func(rc *runConfig) { rc.writeTimeout = 0 }, "--write-timeout"},
		{"zero message rate", func(rc *runConfig) { rc.peerMessageRate = 0 }, "--peer-message-rate"},
		{"infinite byte rate", func(rc *runConfig) { rc.peerByteRate = math.Inf(1) }, "--peer-byte-rate"},
		{"zero threshold", func(rc *runConfig) { rc.misbehaviour = 0 }, "--misbehaviour-threshold"},
		{"NaN receive rate", func(rc *runConfig) { rc.nodeMessageRate = math.NaN() }, "--receive-message-rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := base
			tc.edit(&rc)
			_, err := rc.options()
			require.ErrorContains(t, err, tc.want)
		})
	}
	rc := base
	rc.rpcAddr = "off"
	_, err := rc.options()
	require.NoError(t, err)
	for _, network := range []string{"mainnet", "testnet"} {
		rc := base
		rc.network = network
		_, err := rc.options()
		require.NoError(t, err, network)
	}
}

func TestSetupLogging(t *testing.T) {
	t.Setenv("GOLOG_LOG_LEVEL", "")
	require.NoError(t, setupLogging("warn"))
	require.ErrorContains(t, setupLogging("loud"), "--log-level")
}
