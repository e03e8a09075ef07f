package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

const testPeerAddr = "/ip4/127.0.0.1/tcp/21337/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

// fakeBackend records calls and returns canned values.
type fakeBackend struct {
	mu        sync.Mutex
	added     []string
	cleared   int
	inits     int
	failWith  error
	unhealthy error
}

func (f *fakeBackend) Peers(context.Context) ([]Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return nil, f.failWith
	}
	return []Peer{{Address: testPeerAddr, Type: PeerOutbound}}, nil
}

func (f *fakeBackend) KnownPeers(context.Context) ([]KnownPeer, error) {
	return nil, nil // an empty book must still marshal as []
}

func (f *fakeBackend) AddPeers(_ context.Context, addrs []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, addrs...)
	return nil
}

func (f *fakeBackend) ClearPeers(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleared++
	return nil
}

func (f *fakeBackend) InitializePeers(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inits++
	return nil
}

func (f *fakeBackend) NodeStats(context.Context) (NodeStats, error) {
	return NodeStats{PeerID: "12D3KooWtest", UptimeSeconds: 7, Outbound: SessionCounts{Consolidated: 2}, MessagesIn: 5}, nil
}

func (f *fakeBackend) Health(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unhealthy
}

func (f *fakeBackend) set(fail, unhealthy error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWith, f.unhealthy = fail, unhealthy
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(data))
}

func TestJSONRPC(t *testing.T) {
	fb := &fakeBackend{}
	srv := httptest.NewServer(Handler(fb, prometheus.NewRegistry(), Access{}))
	defer srv.Close()

	tests := []struct {
		name   string
		body   string
		status int
		want   string // exact JSON reply
	}{
		{"peers", `{"jsonrpc":"2.0","method":"peers","id":1}`, 200,
			`{"jsonrpc":"2.0","result":[{"address":"` + testPeerAddr + `","type":"outbound"}],"id":1}`},
		{"knownPeers empty", `{"jsonrpc":"2.0","method":"knownPeers","params":[],"id":"a"}`, 200,
			`{"jsonrpc":"2.0","result":[],"id":"a"}`},
		{"addPeers", `{"jsonrpc":"2.0","method":"addPeers","params":["` + testPeerAddr + `"],"id":2}`, 200,
			`{"jsonrpc":"2.0","result":true,"id":2}`},
		{"clearPeers", `{"jsonrpc":"2.0","method":"clearPeers","id":3}`, 200,
			`{"jsonrpc":"2.0","result":true,"id":3}`},
		{"initializePeers", `{"jsonrpc":"2.0","method":"initializePeers","params":null,"id":4}`, 200,
			`{"jsonrpc":"2.0","result":true,"id":4}`},
		{"parse error", `{"jsonrpc":"2.0","method":`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: unexpected EOF"},"id":null}`},
		{"trailing data", `{"jsonrpc":"2.0","method":"peers","id":1} {}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: data after the request object"},"id":null}`},
		{"wrong version", `{"jsonrpc":"1.0","method":"peers","id":5}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: \"jsonrpc\" must be \"2.0\""},"id":5}`},
		{"no method", `{"jsonrpc":"2.0","id":6}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: \"method\" is missing"},"id":6}`},
		{"method not a string", `{"jsonrpc":"2.0","method":7,"id":7}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: json: cannot unmarshal number into Go struct field request.method of type string"},"id":null}`},
		{"bad id", `{"jsonrpc":"2.0","method":"peers","id":{}}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: id must be a string, a number or null"},"id":null}`},
		{"unknown method", `{"jsonrpc":"2.0","method":"getBlock","id":8}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"getBlock\""},"id":8}`},
		{"params on peers", `{"jsonrpc":"2.0","method":"peers","params":[1],"id":9}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: this method takes none"},"id":9}`},
		{"addPeers object", `{"jsonrpc":"2.0","method":"addPeers","params":{"a":1},"id":10}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: want an array of address strings, e.g. [\"/ip4/1.2.3.4/tcp/21337/p2p/12D3KooW...\", \"1.2.3.4:21337\"]"},"id":10}`},
		{"addPeers empty", `{"jsonrpc":"2.0","method":"addPeers","params":[],"id":11}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: no addresses"},"id":11}`},
		{"addPeers no p2p", `{"jsonrpc":"2.0","method":"addPeers","params":["/ip4/1.2.3.4/tcp/1"],"id":12}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: address 0: \"/ip4/1.2.3.4/tcp/1\" does not end in /p2p/\u003cpeer id\u003e"},"id":12}`},
		{"addPeers socket address", `{"jsonrpc":"2.0","method":"addPeers","params":["1.2.3.4:21337"],"id":13}`, 200,
			`{"jsonrpc":"2.0","result":true,"id":13}`},
		{"addPeers IP without port", `{"jsonrpc":"2.0","method":"addPeers","params":["1.2.3.4"],"id":14}`, 200, ""},
		{"notification", `{"jsonrpc":"2.0","method":"clearPeers"}`, 204, ``},
		{"batch", `[{"jsonrpc":"2.0","method":"clearPeers","id":1},{"jsonrpc":"2.0","method":"clearPeers"},{"jsonrpc":"2.0","method":"nope","id":2}]`, 200,
			`[{"jsonrpc":"2.0","result":true,"id":1},{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"nope\""},"id":2}]`},
		{"empty batch", `[]`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"empty batch"},"id":null}`},
		{"batch of junk", `[1]`, 200,
			`[{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: json: cannot unmarshal number into Go value of type rpc.request"},"id":null}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got := post(t, srv.URL+"/", tc.body)
			require.Equal(t, tc.status, status)
			if tc.want == "" && status == 200 {
				// Only the error code is pinned (the parser's message is not ours).
				var r struct{ Error *Error }
				require.NoError(t, json.Unmarshal([]byte(got), &r))
				require.NotNil(t, r.Error)
				require.Equal(t, CodeInvalidParams, r.Error.Code)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
	require.Equal(t, []string{testPeerAddr, "1.2.3.4:21337"}, fb.added)
	require.Equal(t, 4, fb.cleared) // clearPeers, the notification, two in the batch
	require.Equal(t, 1, fb.inits)
}

func TestHTTPEdges(t *testing.T) {
	fb := &fakeBackend{}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "witnet_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	srv := httptest.NewServer(Handler(fb, reg, Access{}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	resp, err = http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "witnet_test_total 3")

	resp, err = http.Get(srv.URL + "/health")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.JSONEq(t, `{"status":"ok"}`, string(body))

	fb.set(nil, errors.New("closing"))
	resp, err = http.Get(srv.URL + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	big := `{"jsonrpc":"2.0","method":"addPeers","params":["` + strings.Repeat("x", maxBodySize) + `"],"id":1}`
	status, got := post(t, srv.URL+"/", big)
	require.Equal(t, 200, status)
	require.Contains(t, got, `"code":-32600`)

	resp, err = http.Get(srv.URL + "/nowhere")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestClient(t *testing.T) {
	fb := &fakeBackend{}
	s, err := Listen("127.0.0.1:0", fb, nil, Access{})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	c := NewClient(s.Addr().String(), time.Second)

	peers, err := c.Peers(ctx)
	require.NoError(t, err)
	require.Equal(t, []Peer{{Address: testPeerAddr, Type: PeerOutbound}}, peers)

	known, err := c.KnownPeers(ctx)
	require.NoError(t, err)
	require.Empty(t, known)

	require.NoError(t, c.AddPeers(ctx, []string{testPeerAddr}))
	require.NoError(t, c.ClearPeers(ctx))
	require.NoError(t, c.InitializePeers(ctx))

	stats, err := c.NodeStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(7), stats.UptimeSeconds)
	require.Equal(t, 2, stats.Outbound.Consolidated)

	err = c.AddPeers(ctx, []string{"/ip4/1.2.3.4/tcp/1"})
	var rerr *Error
	require.ErrorAs(t, err, &rerr)
	require.Equal(t, CodeInvalidParams, rerr.Code)

	fb.set(errors.New("book closed"), nil)
	_, err = c.Peers(ctx)
	require.ErrorAs(t, err, &rerr)
	require.Equal(t, CodeInternalError, rerr.Code)
	require.Contains(t, rerr.Message, "book closed")

	require.NoError(t, s.Close())
	_, err = c.Peers(ctx)
	require.ErrorContains(t, err, "node unreachable")
}

func TestParsePeerAddr(t *testing.T) {
	tests := []struct {
		in   string
		fail string
	}{
		{testPeerAddr, ""},
		{"/ip4/127.0.0.1/udp/21337/quic-v1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf", ""},
		{"/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf", "no transport address"},
		{"/ip4/127.0.0.1/tcp/1", "does not end in /p2p/"},
		{"127.0.0.1:21337", "not a multiaddr"},
		{"", "not a multiaddr"},
	}
	for _, tc := range tests {
		_, err := ParsePeerAddr(tc.in)
		if tc.fail == "" {
			require.NoError(t, err, tc.in)
		} else {
			require.ErrorContains(t, err, tc.fail, tc.in)
		}
	}
}

// extBackend adds one method to fakeBackend, and tries to override a built-in one.
type extBackend struct{ *fakeBackend }

func (extBackend) Methods() map[string]Method {
	return map[string]Method{
		"echo": func(_ context.Context, params json.RawMessage) (any, error) {
			if len(params) == 0 {
				return nil, &Error{Code: CodeInvalidParams, Message: "echo needs params"}
			}
			return params, nil
		},
		MethodPeers: func(context.Context, json.RawMessage) (any, error) { return "overridden", nil },
		"fail":      func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("boom") },
	}
}

func TestExtensions(t *testing.T) {
	srv := httptest.NewServer(Handler(extBackend{&fakeBackend{}}, nil, Access{}))
	defer srv.Close()
	tests := []struct{ body, want string }{
		{`{"jsonrpc":"2.0","method":"echo","params":[1,"a"],"id":1}`, `{"jsonrpc":"2.0","result":[1,"a"],"id":1}`},
		{`{"jsonrpc":"2.0","method":"echo","id":2}`, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"echo needs params"},"id":2}`},
		{`{"jsonrpc":"2.0","method":"fail","id":3}`, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"fail: boom"},"id":3}`},
		{`{"jsonrpc":"2.0","method":"peers","id":4}`, `{"jsonrpc":"2.0","result":[{"address":"` + testPeerAddr + `","type":"outbound"}],"id":4}`},
		{`{"jsonrpc":"2.0","method":"nope","id":5}`, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"nope\""},"id":5}`},
	}
	for _, tc := range tests {
		_, got := post(t, srv.URL+"/", tc.body)
		require.Equal(t, tc.want, got)
	}
}
