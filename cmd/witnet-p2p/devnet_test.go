package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDevnet runs a three-node devnet for a few seconds: the last table shows every node
// with outbound and inbound sessions.
func TestDevnet(t *testing.T) {
	out := mustRun(t, "", "devnet", "--nodes", "3", "--duration", "8s") // room for a loaded CI machine: the nodes connect in under 1 s when idle
	require.True(t, strings.HasPrefix(out, "devnet: 3 nodes on 127.0.0.1"), out)
	require.Contains(t, out, "node 1 JSON-RPC: 127.0.0.1:")
	require.True(t, strings.HasSuffix(out, "devnet stopping\n"), out)

	tables := strings.Split(out, "-- ")
	last := strings.Split(strings.TrimSpace(tables[len(tables)-1]), "\n")
	require.GreaterOrEqual(t, len(last), 5, out) // time, header, 3 rows
	require.Equal(t, []string{"NODE", "PEER", "ID", "OUT", "IN", "NEW", "TRIED", "ICE", "MSGS", "IN", "MSGS", "OUT"}, strings.Fields(last[1]))
	for i, row := range last[2:5] {
		f := strings.Fields(row)
		require.Equal(t, strconv.Itoa(i+1), f[0], row)
		outN, err := strconv.Atoi(f[2])
		require.NoError(t, err)
		inN, err := strconv.Atoi(f[3])
		require.NoError(t, err)
		require.Positive(t, outN, "node %d has outbound sessions:\n%s", i+1, out)
		require.Positive(t, inN, "node %d has inbound sessions:\n%s", i+1, out)
	}
}
