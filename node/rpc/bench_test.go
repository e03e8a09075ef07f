package rpc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkHandlerPeers measures one JSON-RPC call through the handler, without the
// network: request parsing, dispatch and the reply's encoding.
func BenchmarkHandlerPeers(b *testing.B) {
	h := Handler(&fakeBackend{}, nil, Access{})
	const body = `{"jsonrpc":"2.0","method":"peers","id":1}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkClientPeers measures a call over loopback HTTP with the client, as the CLI
// commands make it.
func BenchmarkClientPeers(b *testing.B) {
	s, err := Listen("127.0.0.1:0", &fakeBackend{}, nil, Access{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := NewClient(s.Addr().String(), 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Peers(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
