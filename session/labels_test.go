package session

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/stretchr/testify/require"
)

// TestReasonLabels: every reason has its own snake_case label (metric label values are
// identifiers, not sentences).
func TestReasonLabels(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seen := map[string]Reason{}
	for _, r := range Reasons() {
		l := r.Label()
		require.Regexp(t, snake, l, "reason %d", r)
		_, dup := seen[l]
		require.False(t, dup, "%q used twice", l)
		seen[l] = r
	}
	require.Equal(t, "feeler_done", ReasonFeelerDone.Label())
	require.Equal(t, "reason_200", Reason(200).Label())
	require.NotContains(t, Reasons(), ReasonNone)
}

// TestClosedByPeer: the end of a stream, or its connection closed by the peer without an
// error code, is a clean end; a reset or a broken connection is not.
func TestClosedByPeer(t *testing.T) {
	require.True(t, closedByPeer(io.EOF))
	require.True(t, closedByPeer(fmt.Errorf("stream reset: connection closed: %w", io.EOF)))
	require.True(t, closedByPeer(&network.ConnError{Remote: true, ErrorCode: 0}))
	require.False(t, closedByPeer(&network.ConnError{Remote: true, ErrorCode: 7}))
	require.False(t, closedByPeer(&network.ConnError{Remote: false, ErrorCode: 0}))
	require.False(t, closedByPeer(&network.StreamError{Remote: true}))
	require.False(t, closedByPeer(errors.New("connection reset by peer")))
	require.Equal(t, ReasonRemoteClosed, ReasonOf(readError(&network.ConnError{Remote: true})))
}
