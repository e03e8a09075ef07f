//go:build linux

package natlab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

// Lab node defaults: every node listens on the same ports, each in its own namespace.
const (
	// Port is the libp2p port, TCP and UDP.
	Port = 4001
	// RPCAddr is the JSON-RPC listener, on the namespace's loopback.
	RPCAddr = "127.0.0.1:5001"
)

// Listen addresses of a lab node.
var (
	ListenTCP  = fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", Port)
	ListenQUIC = fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", Port)
)

// NodeConfig says how to run a node.
type NodeConfig struct {
	// Listen are the listen multiaddrs; nil means TCP and QUIC on Port.
	Listen []string
	// Bootstrap are the peers to bootstrap from (multiaddrs ending in /p2p/<id>).
	Bootstrap []string
	// Args are more `run` flags.
	Args []string
}

// Node is a `witnet-p2p run` process in a lab host.
type Node struct {
	l *Lab
	// Name names it in logs.
	Name string
	// Host is where it runs.
	Host *Host
	// ID is its peer ID.
	ID string

	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	http    *http.Client
}

// periods are the dialer periods of lab nodes: short, so that the lab moves in seconds.
var periods = []string{
	"--bootstrap-period", "1s", "--discovery-period", "2s", "--feeler-period", "500ms",
	"--melt-period", "5s", "--ice-period", "20s",
}

// StartNode starts a node on h and waits until its JSON-RPC answers. It is stopped when
// the test ends, before h's namespace goes.
func (l *Lab) StartNode(name string, h *Host, cfg NodeConfig) *Node {
	l.t.Helper()
	listen := cfg.Listen
	if listen == nil {
		listen = []string{ListenTCP, ListenQUIC}
	}
	dir := filepath.Join(l.dir, name)
	args := []string{"--net=" + nsPath(h.NS), l.bin, "run", "--data-dir", dir, "--rpc-addr", RPCAddr}
	for _, a := range listen {
		args = append(args, "--listen", a)
	}
	for _, b := range cfg.Bootstrap {
		args = append(args, "--bootstrap", b)
	}
	args = append(append(args, periods...), cfg.Args...)
	n := &Node{l: l, Name: name, Host: h, exited: make(chan struct{}), logPath: filepath.Join(l.dir, name+".log")}
	logf, err := os.Create(n.logPath)
	if err != nil {
		l.t.Fatal(err)
	}
	n.cmd = exec.Command("nsenter", args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.Env = append(os.Environ(), "GOLOG_LOG_LEVEL="+logLevels())
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		l.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = n.cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
	l.t.Cleanup(func() {
		n.Stop()
		l.keepLog(n)
	})
	n.http = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialIn(ctx, h.NS, network, addr)
		},
		DisableKeepAlives: true,
	}}
	l.Eventually(30*time.Second, name+" JSON-RPC up", func() (bool, string) {
		select {
		case <-n.exited:
			l.t.Fatalf("%s exited: %s", name, tail(n.logPath, 20))
		default:
		}
		st, err := n.Stats()
		if err != nil {
			return false, err.Error()
		}
		n.ID = st.PeerID
		return true, ""
	})
	return n
}

// Stop ends the node (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (n *Node) Stop() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// Addr returns the node's address on transport ("tcp" or "udp") at its host's IP, ending
// in /p2p/<id>.
func (n *Node) Addr(transport string) string {
	if transport == "udp" {
		return fmt.Sprintf("/ip4/%s/udp/%d/quic-v1/p2p/%s", n.Host.IP, Port, n.ID)
	}
	return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", n.Host.IP, Port, n.ID)
}

// dialIn connects to addr from inside namespace ns: the socket is made on an OS thread
// moved into ns, which the goroutine never gives back, so the thread ends with it and no
// other goroutine runs in the lab's namespace.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(nsPath(ns))
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// Call calls a JSON-RPC method of the node.
func (n *Node) Call(method string, params, result any) error {
	req := map[string]any{"jsonrpc": "2.0", "method": method, "id": 1}
	if params != nil {
		req["params"] = params
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	resp, err := n.http.Post("http://"+RPCAddr+"/", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *rpc.Error      `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return fmt.Errorf("%s: %s: HTTP %d: %w", n.Name, method, resp.StatusCode, err)
	}
	if out.Error != nil {
		return out.Error
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(out.Result, result)
}

// Stats returns nodeStats.
func (n *Node) Stats() (rpc.NodeStats, error) {
	var st rpc.NodeStats
	return st, n.Call(rpc.MethodNodeStats, nil, &st)
}

// Peers returns the consolidated sessions.
func (n *Node) Peers() ([]rpc.Peer, error) {
	var ps []rpc.Peer
	return ps, n.Call(rpc.MethodPeers, nil, &ps)
}

// Metric returns the sum of the samples of a metric whose labels include every given
// name="value" pair, from the node's /metrics.
func (n *Node) Metric(name string, labels ...string) (float64, error) {
	resp, err := n.http.Get("http://" + RPCAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric whose name starts with this one
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", n.Name, line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, errors.New(n.Name + ": no sample of " + name + " " + strings.Join(labels, ","))
	}
	return sum, sc.Err()
}

// logLevels are the go-log levels of lab nodes: $WITNET_NATLAB_GOLOG if set, else INFO
// with the node's and hole punching's DEBUG lines.
func logLevels() string {
	if v := os.Getenv("WITNET_NATLAB_GOLOG"); v != "" {
		return v
	}
	return "info,witnet/node=debug,p2p-holepunch=debug"
}
