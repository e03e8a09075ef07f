package inventory

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// JSON-RPC method names served by the inventory.
const (
	// MethodInventory submits an item: params {"transaction": HEX} (or "block",
	// "superblock", "superblockVote"), result {"hash": HASH}.
	MethodInventory = "inventory"
	// MethodGetItem returns a stored item: params [HASH], result {"kind": ..., "hex": ...}.
	MethodGetItem = "getItem"
)

// JSON-RPC error codes of the inventory methods (implementation-defined range).
const (
	// CodeBadItem: the submitted item does not decode, is not of the named kind, or is
	// too large. It is neither stored nor gossiped. Data: {"kind", "reason"}.
	CodeBadItem = -32001
	// CodeItemNotFound: no item is stored under the hash.
	CodeItemNotFound = -32002
)

// SubmitResult is the result of MethodInventory.
type SubmitResult struct {
	Hash string `json:"hash"`
}

// ItemResult is the result of MethodGetItem.
type ItemResult struct {
	// Kind is "block", "transaction", "superblock" or "superblockVote".
	Kind string `json:"kind"`
	// Hex is the item's protobuf encoding in lowercase hex.
	Hex string `json:"hex"`
}

// RPCMethods returns the inventory's JSON-RPC methods by name, for the node's server
// (node.WithRPCMethods or an rpc.Extensions backend). Their errors are *rpc.Error.
func (e *Engine) RPCMethods() map[string]rpc.Method {
	return map[string]rpc.Method{
		MethodInventory: e.rpcInventory,
		MethodGetItem:   e.rpcGetItem,
	}
}

func invalidParams(format string, args ...any) *rpc.Error {
	return &rpc.Error{Code: rpc.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}

func (e *Engine) rpcInventory(_ context.Context, params json.RawMessage) (any, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(params))
	if err := dec.Decode(&obj); err != nil || len(obj) != 1 {
		return nil, invalidParams(`inventory: params must be one of {"transaction"|"block"|"superblock"|"superblockVote": HEX}`)
	}
	var (
		label string
		value json.RawMessage
	)
	for k, v := range obj {
		label, value = k, v
	}
	kind, err := ParseKind(label)
	if err != nil {
		return nil, invalidParams("inventory: %v", err)
	}
	var s string
	if err := json.Unmarshal(value, &s); err != nil {
		return nil, invalidParams("inventory: %s must be a hex string", label)
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return nil, badItem(&ItemError{Kind: kind, Reason: ReasonUndecodable, Err: fmt.Errorf("not hex: %w", err)})
	}
	it, _, err := e.Submit(kind, raw)
	if err != nil {
		var ie *ItemError
		if errors.As(err, &ie) {
			return nil, badItem(ie)
		}
		return nil, err
	}
	return SubmitResult{Hash: it.Hash.String()}, nil
}

func badItem(ie *ItemError) *rpc.Error {
	data, _ := json.Marshal(map[string]string{"kind": kindLabel(ie.Kind), "reason": ie.Reason})
	return &rpc.Error{Code: CodeBadItem, Message: ie.Error(), Data: data}
}

func (e *Engine) rpcGetItem(_ context.Context, params json.RawMessage) (any, error) {
	var args []string
	if err := json.Unmarshal(params, &args); err != nil || len(args) != 1 {
		return nil, invalidParams("getItem: params must be [HASH]")
	}
	h, err := protocol.ParseHash(args[0])
	if err != nil {
		return nil, invalidParams("getItem: %v", err)
	}
	it, err := e.Get(h)
	if errors.Is(err, ErrNotFound) {
		return nil, &rpc.Error{Code: CodeItemNotFound, Message: "getItem: no item with hash " + h.String()}
	}
	if err != nil {
		return nil, err
	}
	return ItemResult{Kind: kindLabel(it.Kind), Hex: hex.EncodeToString(it.Raw)}, nil
}

// SubmitItem calls MethodInventory on a node: it submits raw, the protobuf encoding of an
// item of kind k, and returns the item's hash.
func SubmitItem(ctx context.Context, c *rpc.Client, k protocol.Kind, raw []byte) (protocol.Hash, error) {
	if !IsItemKind(k) {
		return protocol.Hash{}, &ItemError{Kind: k, Reason: ReasonWrongKind}
	}
	var res SubmitResult
	if err := c.Call(ctx, MethodInventory, map[string]string{kindLabel(k): hex.EncodeToString(raw)}, &res); err != nil {
		return protocol.Hash{}, err
	}
	return protocol.ParseHash(res.Hash)
}

// GetItem calls MethodGetItem on a node.
func GetItem(ctx context.Context, c *rpc.Client, h protocol.Hash) (ItemResult, error) {
	var res ItemResult
	err := c.Call(ctx, MethodGetItem, []string{h.String()}, &res)
	return res, err
}
