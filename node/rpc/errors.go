package rpc

import (
	"encoding/json"
	"fmt"
)

// Standard JSON-RPC 2.0 error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// CodeReplyTooLarge is the server-defined error of a call whose reply would exceed the
// listener's reply size limit (Access.MaxReplySize), or which a batch did not run because
// its replies reached that limit.
const CodeReplyTooLarge = -32010

// Error is a JSON-RPC error object. The client returns it for an error response, so callers
// can tell a refused request (errors.As) from a transport failure.
type Error struct {
	// Code is the JSON-RPC error code (the Code* constants).
	Code int `json:"code"`
	// Message describes the error in one line.
	Message string `json:"message"`
	// Data carries method-specific detail, if any.
	Data json.RawMessage `json:"data,omitempty"`
}

// Error formats the code and message.
func (e *Error) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
