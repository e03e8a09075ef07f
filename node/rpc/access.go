package rpc

import (
	"crypto/subtle"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
)

// DefaultMaxReplySize bounds the JSON encoding of one HTTP reply (a single call's or a
// whole batch's): 20 MiB holds the largest inventory item (an 8 MiB frame, hex-encoded)
// with room to spare, and keeps a small batch from making the node build a reply of many
// times that.
const DefaultMaxReplySize = 20 << 20

// Access says who may use the listener. The zero value is the safe default: requests must
// name a local host (no DNS rebinding), browsers' cross-origin requests are refused, no
// token is asked for, and replies are capped at DefaultMaxReplySize.
type Access struct {
	// AllowedHosts are further names the Host header may carry (a DNS name the node is
	// reached by, as in a container network); "*" allows any. Without them the Host must be
	// localhost, a loopback IP, the listener's own IP (any IP when it listens on every
	// interface) or the host name given in the listen address.
	AllowedHosts []string
	// AllowedOrigins are the browser origins ("https://dash.example") whose requests are
	// served, with CORS headers; "*" allows any. Without them a request carrying an Origin
	// header (which browsers add to every cross-origin request) is refused.
	AllowedOrigins []string
	// Token, when not empty, is required as "Authorization: Bearer <token>" on JSON-RPC and
	// /metrics; /health stays open.
	Token string
	// MaxReplySize bounds a reply's bytes (0: DefaultMaxReplySize). A single call whose
	// result is larger gets a CodeReplyTooLarge error; a batch stops running calls once the
	// limit is reached and answers the rest with that error.
	MaxReplySize int

	// listenHost is the host part of the address Listen bound ("" for Handler alone).
	listenHost string
}

func (a Access) maxReply() int {
	if a.MaxReplySize <= 0 {
		return DefaultMaxReplySize
	}
	return a.MaxReplySize
}

// guard wraps next with the Host, Origin and token checks of a.
func (a Access) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.hostAllowed(r.Host) {
			log.Warnw("HTTP request refused: Host not allowed", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, fmt.Sprintf("Host %q is not allowed (DNS rebinding protection; see --rpc-allowed-hosts)", r.Host), http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !allowed(a.AllowedOrigins, origin) {
				log.Warnw("HTTP request refused: cross-origin", "origin", origin, "remote", r.RemoteAddr, "path", r.URL.Path)
				http.Error(w, fmt.Sprintf("requests from origin %q are not allowed (see --rpc-allowed-origins)", origin), http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions { // a CORS preflight
				h.Set("Access-Control-Allow-Methods", "POST, GET")
				h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if a.Token != "" && r.URL.Path != "/health" && !a.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="witnet-p2p"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the bearer token.
func (a Access) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return false
	}
	got := strings.TrimSpace(auth[len(prefix):])
	return subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) == 1
}

// hostAllowed reports whether a Host header names this listener (see AllowedHosts).
func (a Access) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if host == "localhost" || allowed(a.AllowedHosts, host) {
		return true
	}
	if a.listenHost != "" && host == strings.ToLower(a.listenHost) {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	// An IP literal cannot be rebound; it is the listener's own when the listener binds
	// it, or binds every interface.
	bound := net.ParseIP(a.listenHost)
	return bound != nil && (bound.IsUnspecified() || bound.Equal(ip))
}

// allowed reports whether v is in list (case-insensitively) or list holds "*".
func allowed(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return s == "*" || strings.EqualFold(s, v) })
}

// jsonBody reports whether r's Content-Type is application/json (parameters such as
// charset allowed). Requiring it keeps browsers' "simple" cross-site requests (text/plain,
// form encodings) out: a page cannot send application/json without a CORS preflight.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}
