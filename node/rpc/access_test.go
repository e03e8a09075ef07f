package rpc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// send makes one request to h and returns the status and body.
func send(t *testing.T, h http.Handler, method, url, body string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, strings.TrimSpace(w.Body.String()), w.Header()
}

const clearCall = `{"jsonrpc":"2.0","method":"clearPeers","id":1}`

// TestContentTypeRequired: a web page's "simple" request (text/plain or a form, any
// origin) reaches no method.
func TestContentTypeRequired(t *testing.T) {
	fb := &fakeBackend{}
	h := Handler(fb, nil, Access{})
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		status, body, _ := send(t, h, http.MethodPost, "http://127.0.0.1:21338/", clearCall, map[string]string{"Content-Type": ct})
		require.Equal(t, http.StatusUnsupportedMediaType, status, ct)
		require.Contains(t, body, "application/json")
	}
	require.Zero(t, fb.cleared, "clearPeers never ran")
	status, _, _ := send(t, h, http.MethodPost, "http://127.0.0.1:21338/", clearCall, map[string]string{"Content-Type": "application/json; charset=utf-8"})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, fb.cleared)
}

// TestHostCheck: a request whose Host is a name the listener does not answer to (a DNS
// rebinding page) is refused on every path; local names and IP literals pass.
func TestHostCheck(t *testing.T) {
	tests := []struct {
		name   string
		acc    Access
		host   string
		refuse bool
	}{
		{"rebinding name", Access{}, "attacker.example:21338", true},
		{"rebinding name without port", Access{}, "attacker.example", true},
		{"empty", Access{}, "", true},
		{"localhost", Access{}, "localhost:21338", false},
		{"LOCALHOST.", Access{}, "LOCALHOST.:21338", false},
		{"127.0.0.1", Access{}, "127.0.0.1:21338", false},
		{"::1", Access{}, "[::1]:21338", false},
		{"another IP on a loopback listener", Access{listenHost: "127.0.0.1"}, "10.1.2.3:21338", true},
		{"the listener's IP", Access{listenHost: "10.1.2.3"}, "10.1.2.3:21338", false},
		{"any IP on a wildcard listener", Access{listenHost: "0.0.0.0"}, "172.18.0.2:21338", false},
		{"a name on a wildcard listener", Access{listenHost: "0.0.0.0"}, "attacker.example:21338", true},
		{"the listen address's name", Access{listenHost: "node1"}, "node1:21338", false},
		{"configured name", Access{AllowedHosts: []string{"node1"}}, "NODE1:21338", false},
		{"any name", Access{AllowedHosts: []string{"*"}}, "attacker.example", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fb := &fakeBackend{}
			reg := prometheus.NewRegistry()
			h := Handler(fb, reg, tc.acc)
			for _, path := range []string{"/", "/metrics", "/health"} {
				method := http.MethodGet
				if path == "/" {
					method = http.MethodPost
				}
				req := httptest.NewRequest(method, "http://x"+path, strings.NewReader(clearCall))
				req.Header.Set("Content-Type", "application/json")
				req.Host = tc.host
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if tc.refuse {
					require.Equal(t, http.StatusForbidden, w.Code, path)
					require.Contains(t, w.Body.String(), "not allowed", path)
				} else {
					require.Equal(t, http.StatusOK, w.Code, "%s: %s", path, w.Body.String())
				}
			}
			if tc.refuse {
				require.Zero(t, fb.cleared)
			}
		})
	}
}

// TestOriginCheck: a browser's cross-origin request is refused before any method runs,
// unless its origin is configured, which then gets CORS headers and a preflight answer.
func TestOriginCheck(t *testing.T) {
	fb := &fakeBackend{}
	h := Handler(fb, nil, Access{})
	for _, origin := range []string{"http://attacker.example", "null", "http://127.0.0.1:8080"} {
		status, body, _ := send(t, h, http.MethodPost, "http://127.0.0.1:21338/", clearCall, map[string]string{"Origin": origin})
		require.Equal(t, http.StatusForbidden, status, origin)
		require.Contains(t, body, "origin")
	}
	require.Zero(t, fb.cleared)

	const dash = "https://dash.example"
	h = Handler(fb, nil, Access{AllowedOrigins: []string{dash}})
	status, _, hdr := send(t, h, http.MethodOptions, "http://127.0.0.1:21338/", "", map[string]string{"Origin": dash})
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, dash, hdr.Get("Access-Control-Allow-Origin"))
	require.Contains(t, hdr.Get("Access-Control-Allow-Headers"), "Content-Type")
	status, _, hdr = send(t, h, http.MethodPost, "http://127.0.0.1:21338/", clearCall, map[string]string{"Origin": dash})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, dash, hdr.Get("Access-Control-Allow-Origin"))
	require.Equal(t, 1, fb.cleared)
	status, _, _ = send(t, h, http.MethodPost, "http://127.0.0.1:21338/", clearCall, map[string]string{"Origin": "http://attacker.example"})
	require.Equal(t, http.StatusForbidden, status)
}

// TestToken: with a token, JSON-RPC and /metrics need it, /health does not; the client
// sends it.
func TestToken(t *testing.T) {
	const token = "s3cret-token"
	fb := &fakeBackend{}
	s, err := Listen("127.0.0.1:0", fb, prometheus.NewRegistry(), Access{Token: token})
	require.NoError(t, err)
	defer s.Close()
	base := "http://" + s.Addr().String()

	do := func(method, path, auth string) int {
		req, err := http.NewRequest(method, base+path, strings.NewReader(clearCall))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token + "x"} {
		require.Equal(t, http.StatusUnauthorized, do(http.MethodPost, "/", auth), auth)
		require.Equal(t, http.StatusUnauthorized, do(http.MethodGet, "/metrics", auth), auth)
	}
	require.Zero(t, fb.cleared)
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/health", ""))
	require.Equal(t, http.StatusOK, do(http.MethodGet, "/metrics", "Bearer "+token))
	require.Equal(t, http.StatusOK, do(http.MethodPost, "/", "bearer "+token))
	require.Equal(t, 1, fb.cleared)

	ctx := context.Background()
	_, err = NewClient(s.Addr().String(), 0).Peers(ctx)
	require.ErrorContains(t, err, "HTTP 401")
	_, err = NewClient(s.Addr().String(), 0).WithToken(token).Peers(ctx)
	require.NoError(t, err)
}

// bigBackend answers knownPeers with n entries and counts the calls.
type bigBackend struct {
	*fakeBackend
	n     int
	calls atomic.Int32
}

func (b *bigBackend) KnownPeers(context.Context) ([]KnownPeer, error) {
	b.calls.Add(1)
	out := make([]KnownPeer, b.n)
	for i := range out {
		out[i] = KnownPeer{Address: testPeerAddr, Type: KnownNew}
	}
	return out, nil
}

// TestReplySizeCap: a small batch of large calls cannot make the node build a reply
// beyond the limit; the calls past it are not run and get CodeReplyTooLarge.
func TestReplySizeCap(t *testing.T) {
	b := &bigBackend{fakeBackend: &fakeBackend{}, n: 1000} // ~100 KB per knownPeers reply
	const limit = 1 << 20
	h := Handler(b, nil, Access{MaxReplySize: limit})
	call := `{"jsonrpc":"2.0","method":"knownPeers","id":%d}`
	calls := make([]string, maxBatch)
	for i := range calls {
		calls[i] = strings.Replace(call, "%d", string(rune('0'+i%10)), 1)
	}
	batch := "[" + strings.Join(calls, ",") + "]"
	require.Less(t, len(batch), 5000, "the request is small")

	status, body, _ := send(t, h, http.MethodPost, "http://127.0.0.1/", batch, nil)
	require.Equal(t, http.StatusOK, status)
	require.LessOrEqual(t, len(body), limit, "the reply stays within the limit")
	var replies []response
	require.NoError(t, json.Unmarshal([]byte(body), &replies))
	require.Len(t, replies, maxBatch, "every call is answered")
	var answered, refused int
	for _, r := range replies {
		if r.Error != nil {
			require.Equal(t, CodeReplyTooLarge, r.Error.Code)
			refused++
		} else {
			answered++
		}
	}
	require.Positive(t, answered)
	require.Positive(t, refused)
	require.LessOrEqual(t, int(b.calls.Load()), answered+1, "calls past the limit are not run")
	t.Logf("batch of %d knownPeers calls (%d bytes): %d answered, %d refused, reply %d bytes", maxBatch, len(batch), answered, refused, len(body))

	// One call over the limit.
	b.n = 20000
	status, body, _ = send(t, h, http.MethodPost, "http://127.0.0.1/", `{"jsonrpc":"2.0","method":"knownPeers","id":7}`, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, `{"jsonrpc":"2.0","error":{"code":-32010,"message":"reply exceeds the 1048576-byte limit"},"id":7}`, body)
}
