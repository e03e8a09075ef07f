package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultAddr is the default address of a node's HTTP listener.
const DefaultAddr = "127.0.0.1:21338"

// DefaultTimeout bounds one call of a Client made with timeout 0.
const DefaultTimeout = 10 * time.Second

// Client calls a node's JSON-RPC methods over HTTP.
type Client struct {
	url   string
	token string
	http  *http.Client
	id    atomic.Uint64
}

// NewClient returns a client for the listener at addr, either host:port or a full
// http:// URL. timeout bounds each call (0: DefaultTimeout).
func NewClient(addr string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	u := addr
	if !strings.Contains(addr, "://") {
		u = "http://" + addr + "/"
	}
	return &Client{url: u, http: &http.Client{Timeout: timeout}}
}

// WithToken makes c send token as its bearer token (see Access.Token) and returns c.
func (c *Client) WithToken(token string) *Client {
	c.token = token
	return c
}

// Call invokes method with params (nil for none) and decodes the result into result (nil
// to discard it). A JSON-RPC error response is returned as *Error.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	raw, err := c.CallRaw(ctx, method, params)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("rpc: %s: decode result: %w", method, err)
	}
	return nil
}

// CallRaw invokes method and returns the raw JSON result.
func (c *Client) CallRaw(ctx context.Context, method string, params any) (json.RawMessage, error) {
	req := map[string]any{"jsonrpc": "2.0", "method": method, "id": c.id.Add(1)}
	if params != nil {
		req["params"] = params
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("rpc: %s: encode params: %w", method, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.token)
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is said once, below
		}
		return nil, fmt.Errorf("rpc: node unreachable at %s: %w", c.url, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("rpc: %s: read response: %w", method, err)
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *Error          `json:"error"`
	}
	if hresp.StatusCode != http.StatusOK {
		// A refusal before JSON-RPC (Host, Origin, token, media type) is plain text.
		return nil, fmt.Errorf("rpc: %s: HTTP %d: %s", method, hresp.StatusCode, strings.TrimSpace(string(data[:min(len(data), 200)])))
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("rpc: %s: HTTP %d, not a JSON-RPC response: %.80q", method, hresp.StatusCode, data)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp.Result, nil
}

// Health asks GET /health: nil while the node serves, an error saying why not otherwise.
func (c *Client) Health(ctx context.Context) error {
	u, err := url.Parse(c.url)
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	u.Path = "/health"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("rpc: node unreachable at %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("rpc: node not healthy: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// Peers calls peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	return out, c.Call(ctx, MethodPeers, nil, &out)
}

// KnownPeers calls knownPeers.
func (c *Client) KnownPeers(ctx context.Context) ([]KnownPeer, error) {
	var out []KnownPeer
	return out, c.Call(ctx, MethodKnownPeers, nil, &out)
}

// AddPeers calls addPeers with address strings: multiaddrs ending in /p2p/<id>, or IP:PORT
// for witnet-rust peers over plain TCP.
func (c *Client) AddPeers(ctx context.Context, addrs []string) error {
	return c.Call(ctx, MethodAddPeers, addrs, nil)
}

// ClearPeers calls clearPeers.
func (c *Client) ClearPeers(ctx context.Context) error {
	return c.Call(ctx, MethodClearPeers, nil, nil)
}

// InitializePeers calls initializePeers.
func (c *Client) InitializePeers(ctx context.Context) error {
	return c.Call(ctx, MethodInitializePeers, nil, nil)
}

// NodeStats calls nodeStats.
func (c *Client) NodeStats(ctx context.Context) (NodeStats, error) {
	var out NodeStats
	return out, c.Call(ctx, MethodNodeStats, nil, &out)
}
