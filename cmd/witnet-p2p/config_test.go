package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// resolveWith runs a bare app with the run flags and args, applies the config file as the
// run command does, and returns the context to read the resolved flags from.
func resolveWith(t *testing.T, args ...string) (*cli.Context, error) {
	t.Helper()
	var ctx *cli.Context
	var rerr error
	app := &cli.App{
		Name:  "test",
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			ctx, rerr = c, loadConfigFile(c)
			return nil
		},
	}
	require.NoError(t, app.Run(append([]string{"test"}, args...)))
	return ctx, rerr
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
magic = 11000
rpc-addr = "127.0.0.1:9999"
feeler-period = "250ms"
ice-period = "10m"
log-level = "debug"
peer-message-rate = 250.5
write-timeout = "3s"
misbehaviour-threshold = -1
receive-message-rate = 0
max-frame-size = 1048576
`), 0o600))

	// Defaults only.
	c, err := resolveWith(t)
	require.NoError(t, err)
	require.Equal(t, ".witnet-p2p", c.String(flagDataDir))
	require.Empty(t, c.StringSlice(flagListen))
	require.Equal(t, session.DefaultInboundLimit, c.Int(flagInboundLimit))
	require.Equal(t, session.DefaultOutboundLimit, c.Int(flagOutboundLimit))
	require.Equal(t, 2*time.Second, c.Duration(flagFeelerPeriod))
	require.Zero(t, c.Duration(flagIcePeriod))
	require.Equal(t, session.DefaultHandshakeTimeout, c.Duration(flagHandshakeTimeout))
	require.Equal(t, codec.DefaultMaxFrameSize, c.Int(flagMaxFrameSize))
	require.Equal(t, float64(session.DefaultMessageRate), c.Float64(flagPeerMessageRate))
	require.Equal(t, float64(session.DefaultByteRate), c.Float64(flagPeerByteRate))
	require.Equal(t, session.DefaultMisbehaviourThreshold, c.Int(flagMisbehaviour))
	require.Equal(t, session.DefaultWriteTimeout, c.Duration(flagWriteTimeout))
	require.Equal(t, float64(session.DefaultNodeMessageRate), c.Float64(flagNodeMessageRate))
	require.Equal(t, float64(session.DefaultNodeByteRate), c.Float64(flagNodeByteRate))

	// The file over the defaults.
	c, err = resolveWith(t, "--config", file)
	require.NoError(t, err)
	require.Equal(t, "/from/file", c.String(flagDataDir))
	require.Equal(t, []string{"/ip4/127.0.0.1/tcp/1000"}, c.StringSlice(flagListen))
	require.Len(t, c.StringSlice(flagBootstrap), 1)
	require.Equal(t, 7, c.Int(flagInboundLimit))
	require.Equal(t, 3, c.Int(flagOutboundLimit))
	require.Equal(t, uint(11000), c.Uint(flagMagic))
	require.Equal(t, "127.0.0.1:9999", c.String(flagRPCAddr))
	require.Equal(t, 250*time.Millisecond, c.Duration(flagFeelerPeriod))
	require.Equal(t, 10*time.Minute, c.Duration(flagIcePeriod))
	require.Equal(t, "debug", c.String(flagLogLevel))
	require.Equal(t, 15*time.Second, c.Duration(flagBootstrapPeriod), "unset in the file: default")
	require.Equal(t, 250.5, c.Float64(flagPeerMessageRate))
	require.Equal(t, 3*time.Second, c.Duration(flagWriteTimeout))
	require.Equal(t, -1, c.Int(flagMisbehaviour))
	require.Zero(t, c.Float64(flagNodeMessageRate), "a TOML integer for a float flag")
	require.Equal(t, 1<<20, c.Int(flagMaxFrameSize))

	// The environment over the file, flags over the environment.
	t.Setenv("WITNET_P2P_INBOUND_LIMIT", "9")
	t.Setenv("WITNET_P2P_DATA_DIR", "/from/env")
	t.Setenv("WITNET_P2P_LISTEN", "/ip4/127.0.0.1/tcp/2000,/ip4/127.0.0.1/udp/2000/quic-v1")
	t.Setenv("WITNET_P2P_MAX_FRAME_SIZE", "2097152")
	c, err = resolveWith(t, "--config", file, "--data-dir", "/from/flag", "--max-frame-size", "4194304")
	require.NoError(t, err)
	require.Equal(t, 9, c.Int(flagInboundLimit))
	require.Equal(t, "/from/flag", c.String(flagDataDir))
	require.Equal(t, []string{"/ip4/127.0.0.1/tcp/2000", "/ip4/127.0.0.1/udp/2000/quic-v1"}, c.StringSlice(flagListen))
	require.Equal(t, 4<<20, c.Int(flagMaxFrameSize))
	opts, err := nodeOptions(c)
	require.NoError(t, err)
	require.NotEmpty(t, opts)

	// The config file itself can come from the environment.
	t.Setenv("WITNET_P2P_CONFIG", file)
	c, err = resolveWith(t)
	require.NoError(t, err)
	require.Equal(t, 3, c.Int(flagOutboundLimit))
	require.Equal(t, 2<<20, c.Int(flagMaxFrameSize), "the environment over the file")
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
		{"unknown keys", "inbound = 3\n[run]\nlisten = []\n", "unknown keys: inbound, run"},
		{"the file names no other file", "config = \"other.toml\"\n", "unknown keys: config"},
		{"bad type", "inbound-limit = \"x\"\n", "inbound-limit"},
		{"float for int", "max-frame-size = 1.5\n", "max-frame-size"},
		{"bad duration", "feeler-period = \"soon\"\n", "soon"},
		{"number for duration", "feeler-period = 5\n", "feeler-period"},
		{"not a list", "listen = \"/ip4/127.0.0.1/tcp/1\"\n", "listen"},
		{"not toml", "= =\n", "config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveWith(t, "--config", write(tc.name+".toml", tc.content))
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := resolveWith(t, "--config", filepath.Join(dir, "missing.toml"))
	require.ErrorContains(t, err, "config file")
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"listen", []string{"--listen", "/nope"}, "--listen"},
		{"empty listen", []string{"--listen", " , "}, "no address given"},
		{"announce", []string{"--announce", "x"}, "--announce"},
		{"bootstrap without id", []string{"--bootstrap", "/ip4/1.2.3.4/tcp/1"}, "/p2p/"},
		{"magic zero", []string{"--magic", "0"}, "--magic"},
		{"magic too big", []string{"--magic", "65536"}, "--magic"},
		{"unknown network", []string{"--network", "devnet"}, "--network"},
		{"zero write timeout", []string{"--write-timeout", "0s"}, "--write-timeout"},
		{"zero message rate", []string{"--peer-message-rate", "0"}, "--peer-message-rate"},
		{"infinite byte rate", []string{"--peer-byte-rate", "+Inf"}, "--peer-byte-rate"},
		{"zero threshold", []string{"--misbehaviour-threshold", "0"}, "--misbehaviour-threshold"},
		{"NaN receive rate", []string{"--receive-message-rate", "NaN"}, "--receive-message-rate"},
		{"missing identity", []string{"--identity", "/nonexistent/identity.key"}, "--identity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := resolveWith(t, tc.args...)
			require.NoError(t, err)
			_, err = nodeOptions(c)
			require.ErrorContains(t, err, tc.want)
		})
	}
	for _, args := range [][]string{nil, {"--rpc-addr", "off"}, {"--network", "local"}, {"--network", "mainnet"}, {"--network", "testnet"}} {
		c, err := resolveWith(t, args...)
		require.NoError(t, err)
		_, err = nodeOptions(c)
		require.NoError(t, err, "%v", args)
	}
}

func TestSetupLogging(t *testing.T) {
	t.Setenv("GOLOG_LOG_LEVEL", "")
	require.NoError(t, setupLogging("warn"))
	require.ErrorContains(t, setupLogging("loud"), "--log-level")
}
