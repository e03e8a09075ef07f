package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	logging "github.com/ipfs/go-log/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var log = logging.Logger("witnet/rpc")

// Limits of the HTTP listener.
const (
	// maxBodySize bounds a JSON-RPC request body; addPeers with a few thousand addresses
	// fits comfortably.
	maxBodySize = 1 << 20
	// maxBatch bounds the number of calls in one batch request.
	maxBatch = 100
	// readHeaderTimeout, readTimeout, writeTimeout and idleTimeout bound slow clients.
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	// shutdownTimeout bounds how long Close waits for requests in flight.
	shutdownTimeout = 5 * time.Second
)

// Handler returns the HTTP handler of the node's interface: JSON-RPC on POST /, the
// Prometheus exposition of g on GET /metrics (g may be nil to disable it) and GET /health,
// each behind the checks of acc.
func Handler(b Backend, g prometheus.Gatherer, acc Access) http.Handler {
	mux := http.NewServeMux()
	h := &handler{backend: b, maxReply: acc.maxReply()}
	if ext, ok := b.(Extensions); ok {
		h.extra = ext.Methods()
	}
	mux.Handle("/", h)
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := b.Health(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	return acc.guard(mux)
}

// Server is a running HTTP listener serving Handler.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Listen binds addr (host:port; port 0 picks a free one) and serves Handler(b, g, acc) on
// it until Close.
func Listen(addr string, b Backend, g prometheus.Gatherer, acc Access) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	acc.listenHost, _, _ = net.SplitHostPort(addr)
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           Handler(b, g, acc),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          nil,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorw("HTTP listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Infow("JSON-RPC and metrics listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, waits a little for requests in flight and closes the listener.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	return err
}

// request is one JSON-RPC 2.0 call as received.
type request struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// response is one JSON-RPC 2.0 reply.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

var nullID = json.RawMessage("null")

type handler struct {
	backend  Backend
	extra    map[string]Method // immutable
	maxReply int               // bytes of one HTTP reply
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "JSON-RPC 2.0 takes POST requests", http.StatusMethodNotAllowed)
		return
	}
	if !jsonBody(r) {
		http.Error(w, "JSON-RPC requests must have Content-Type: application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodySize))
	if err != nil {
		writeJSON(w, response{JSONRPC: "2.0", Error: errorf(CodeInvalidRequest, "request body: %v", err), ID: nullID})
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		h.serveBatch(w, r.Context(), body)
		return
	}
	resp, ok := h.call(r.Context(), body)
	if !ok {
		w.WriteHeader(http.StatusNoContent) // a notification gets no reply
		return
	}
	data := h.encode(resp)
	if len(data) > h.maxReply {
		log.Warnw("JSON-RPC reply over the size limit", "bytes", len(data), "limit", h.maxReply)
		data = h.encode(h.tooLarge(resp.ID))
	}
	writeRaw(w, data)
}

// tooLarge is the reply to a call whose result does not fit the reply size limit.
func (h *handler) tooLarge(id json.RawMessage) response {
	return response{JSONRPC: "2.0", Error: errorf(CodeReplyTooLarge, "reply exceeds the %d-byte limit", h.maxReply), ID: id}
}

func (h *handler) serveBatch(w http.ResponseWriter, ctx context.Context, body []byte) {
	var calls []json.RawMessage
	if err := json.Unmarshal(body, &calls); err != nil {
		writeJSON(w, response{JSONRPC: "2.0", Error: errorf(CodeParseError, "parse error: %v", err), ID: nullID})
		return
	}
	if len(calls) == 0 {
		writeJSON(w, response{JSONRPC: "2.0", Error: errorf(CodeInvalidRequest, "empty batch"), ID: nullID})
		return
	}
	if len(calls) > maxBatch {
		writeJSON(w, response{JSONRPC: "2.0", Error: errorf(CodeInvalidRequest, "batch of %d calls, at most %d", len(calls), maxBatch), ID: nullID})
		return
	}
	// The replies are encoded one by one and counted against the size limit; once it is
	// reached, the remaining calls are not run and get an error instead.
	out := make([]json.RawMessage, 0, len(calls))
	size, full := 2, false // the brackets
	for _, c := range calls {
		if full {
			if id, ok := callID(c); ok {
				out = append(out, h.encode(h.tooLarge(id)))
			}
			continue
		}
		resp, ok := h.call(ctx, c)
		if !ok {
			continue
		}
		data := h.encode(resp)
		if size+len(data)+1 > h.maxReply {
			log.Warnw("JSON-RPC batch reply reached the size limit", "limit", h.maxReply, "calls", len(calls), "answered", len(out))
			full, data = true, h.encode(h.tooLarge(resp.ID))
		}
		size += len(data) + 1
		out = append(out, data)
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	data, _ := json.Marshal(out) // RawMessages that are valid JSON
	writeRaw(w, data)
}

// encode marshals one reply; a result that cannot be encoded becomes an internal error.
func (h *handler) encode(resp response) json.RawMessage {
	data, err := json.Marshal(resp)
	if err != nil {
		data, _ = json.Marshal(response{JSONRPC: "2.0", Error: errorf(CodeInternalError, "encode reply: %v", err), ID: resp.ID})
	}
	return data
}

// callID returns the id of a batch entry that is not run, and whether it expects a reply
// (it is a valid request with an id, not a notification).
func callID(raw json.RawMessage) (json.RawMessage, bool) {
	var req request
	if json.Unmarshal(raw, &req) != nil {
		return nullID, true
	}
	if req.ID == nil {
		return nil, false
	}
	if !validID(req.ID) {
		return nullID, true
	}
	return req.ID, true
}

// call runs one JSON-RPC call; ok is false for a valid notification (no id), which gets no
// reply.
func (h *handler) call(ctx context.Context, raw []byte) (resp response, ok bool) {
	resp = response{JSONRPC: "2.0", ID: nullID}
	var req request
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&req); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			resp.Error = errorf(CodeParseError, "parse error: %v", err)
		} else {
			resp.Error = errorf(CodeInvalidRequest, "invalid request: %v", err)
		}
		return resp, true
	}
	if dec.More() {
		resp.Error = errorf(CodeParseError, "parse error: data after the request object")
		return resp, true
	}
	notification := req.ID == nil
	if !notification {
		if !validID(req.ID) {
			resp.Error = errorf(CodeInvalidRequest, "invalid request: id must be a string, a number or null")
			return resp, true
		}
		resp.ID = req.ID
	}
	if req.JSONRPC != "2.0" {
		resp.Error = errorf(CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`)
		return resp, true
	}
	if req.Method == nil {
		resp.Error = errorf(CodeInvalidRequest, `invalid request: "method" is missing`)
		return resp, true
	}
	result, rerr := h.dispatch(ctx, *req.Method, req.Params)
	if notification {
		return resp, false
	}
	if rerr != nil {
		resp.Error = rerr
	} else {
		resp.Result = result
	}
	return resp, true
}

func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch id[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

func (h *handler) dispatch(ctx context.Context, method string, params json.RawMessage) (any, *Error) {
	var (
		result any
		err    error
	)
	switch method {
	case MethodPeers:
		if e := noParams(params); e != nil {
			return nil, e
		}
		var peers []Peer
		peers, err = h.backend.Peers(ctx)
		result = nonNil(peers)
	case MethodKnownPeers:
		if e := noParams(params); e != nil {
			return nil, e
		}
		var known []KnownPeer
		known, err = h.backend.KnownPeers(ctx)
		result = nonNil(known)
	case MethodAddPeers:
		addrs, e := parseAddrs(params)
		if e != nil {
			return nil, e
		}
		err = h.backend.AddPeers(ctx, addrs)
		result = true
	case MethodClearPeers:
		if e := noParams(params); e != nil {
			return nil, e
		}
		err = h.backend.ClearPeers(ctx)
		result = true
	case MethodInitializePeers:
		if e := noParams(params); e != nil {
			return nil, e
		}
		err = h.backend.InitializePeers(ctx)
		result = true
	case MethodNodeStats:
		if e := noParams(params); e != nil {
			return nil, e
		}
		result, err = h.backend.NodeStats(ctx)
	default:
		m, ok := h.extra[method]
		if !ok {
			return nil, errorf(CodeMethodNotFound, "method not found: %q", method)
		}
		result, err = m(ctx, params)
	}
	if err != nil {
		var rerr *Error
		if errors.As(err, &rerr) {
			return nil, rerr
		}
		log.Warnw("JSON-RPC call failed", "method", method, "err", err)
		return nil, errorf(CodeInternalError, "%s: %v", method, err)
	}
	return result, nil
}

// nonNil makes an empty list marshal as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// noParams accepts an absent params member, null, [] or {}.
func noParams(params json.RawMessage) *Error {
	p := bytes.TrimSpace(params)
	switch {
	case len(p) == 0, bytes.Equal(p, []byte("null")):
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(p, &arr) == nil && len(arr) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(p, &obj) == nil && len(obj) == 0 {
		return nil
	}
	return errorf(CodeInvalidParams, "invalid params: this method takes none")
}

// parseAddrs reads addPeers params: an array of address strings, each a multiaddr with
// /p2p/<id> or, for a witnet-rust peer over plain TCP, IP:PORT (witnet-rust's form).
func parseAddrs(params json.RawMessage) ([]string, *Error) {
	var strs []string
	if err := json.Unmarshal(params, &strs); err != nil || len(bytes.TrimSpace(params)) == 0 {
		return nil, errorf(CodeInvalidParams, `invalid params: want an array of address strings, e.g. ["/ip4/1.2.3.4/tcp/21337/p2p/12D3KooW...", "1.2.3.4:21337"]`)
	}
	if len(strs) == 0 {
		return nil, errorf(CodeInvalidParams, "invalid params: no addresses")
	}
	for i, s := range strs {
		if err := CheckPeerString(s); err != nil {
			return nil, errorf(CodeInvalidParams, "invalid params: address %d: %v", i, err)
		}
	}
	return strs, nil
}

// CheckPeerString checks an address addPeers takes: a multiaddr ending in /p2p/<peer id>
// (ParsePeerAddr), or IP:PORT for a witnet-rust peer over plain TCP.
func CheckPeerString(s string) error {
	if strings.HasPrefix(s, "/") {
		_, err := ParsePeerAddr(s)
		return err
	}
	if _, err := netip.ParseAddrPort(s); err != nil {
		return fmt.Errorf("%q is neither a multiaddr ending in /p2p/<peer id> nor IP:PORT", s)
	}
	return nil
}

// ParsePeerAddr parses a multiaddr that names a transport address and ends in
// /p2p/<peer id>, the form addPeers and the --bootstrap flag take.
func ParsePeerAddr(s string) (ma.Multiaddr, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a multiaddr: %w", s, err)
	}
	transport, last := ma.SplitLast(a)
	if last == nil || last.Code() != ma.P_P2P {
		return nil, fmt.Errorf("%q does not end in /p2p/<peer id>", s)
	}
	if len(transport) == 0 {
		return nil, fmt.Errorf("%q has no transport address before /p2p/", s)
	}
	return a, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		log.Debugw("encode JSON-RPC response", "err", err)
		return
	}
	writeRaw(w, data)
}

// writeRaw sends an encoded JSON reply, newline-terminated.
func writeRaw(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(append(data, '\n')); err != nil {
		log.Debugw("write JSON-RPC response", "err", err)
	}
}
