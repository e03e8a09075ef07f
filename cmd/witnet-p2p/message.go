package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// maxInputSize bounds what the message tools read from standard input: the hex of the
// largest frame, plus room for indentation in JSON.
const maxInputSize = 64 << 20

// jsonFormatHelp documents the JSON form shared by decode and encode (message_json.go).
const jsonFormatHelp = `JSON form (the convention of the protocol test vectors, made exact):
  - keys are the schema's field names (protocol/pb/witnet.proto), in field-number order;
  - a oneof is written as its one set member: {"magic": 10700, "kind": {"Verack": {}}};
  - every scalar is written, zeros included; repeated fields as arrays ([] when empty);
  - a sub-message is written when set (empty as {}) and left out when unset: on the wire
    that is the difference between tag + 00 and nothing;
  - integers are JSON numbers, 64-bit ones included; enums are their number;
  - bytes are lowercase hex; Hash, PublicKeyHash and PublicKey are written as the hex of
    their bytes ("hash_prev_block": "0404...").
  When encoding, left-out fields are zero/empty/unset, null means unset, enums may be
  given by name and integers as decimal strings; unknown or repeated keys are errors.`

// messageCommand is the protocol engineer's tool: Witnet messages between protobuf hex and
// JSON, and inventory item hashes.
func messageCommand() *cli.Command {
	return &cli.Command{
		Name:  "message",
		Usage: "decode, encode and hash Witnet P2P messages",
		Subcommands: []*cli.Command{
			messageDecodeCommand(),
			messageEncodeCommand(),
			messageHashCommand(),
		},
		// An unknown sub-command is a one-line error (see withUnknownCommandErrors).
	}
}

// usageError turns a flag parsing failure into a plain one-line error, instead of
// urfave/cli's default of printing the whole help text before it.
func usageError(c *cli.Context, err error, _ bool) error {
	return fmt.Errorf("message %s: %w (see --help)", c.Command.Name, err)
}

func messageDecodeCommand() *cli.Command {
	return &cli.Command{
		Name:      "decode",
		Usage:     "print a protobuf Message (hex) as JSON",
		ArgsUsage: "[HEX]",
		Description: `HEX is a protobuf Message payload, as an argument or on standard input; whitespace
anywhere in it is ignored (so xxd -p output works). The message is decoded and validated as
a peer decodes it, including the fallback for V1.7 blocks, which are shown with the zero
stake/unstake roots the fallback gives them. Unknown fields are dropped. With --framed,
HEX is one whole frame: the 4-byte big-endian length, then the payload.

` + jsonFormatHelp + `

Every valid current-schema Message survives "decode | encode" byte for byte.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "framed", Usage: "the input starts with the 4-byte frame length"},
		},
		OnUsageError: usageError,
		Action:       oneLineErrors(runDecode),
	}
}

func messageEncodeCommand() *cli.Command {
	return &cli.Command{
		Name:      "encode",
		Usage:     "print the protobuf encoding (hex) of a Message given as JSON",
		ArgsUsage: "[JSON]",
		Description: `JSON is a Message in the form decode prints, as an argument or on standard input.
The message is checked with the rules a receiving peer applies (lengths of hashes, keys and
addresses, oneofs set, magic in 16 bits, list limits) unless --no-validate is given, and
written exactly as given: fields left out are not written. witnet-rust writes every
sub-message, even empty ones; --canonical fills in what is missing the way it does.
With --framed the output is a whole frame (4-byte big-endian length, then the payload).

` + jsonFormatHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "framed", Usage: "prepend the 4-byte frame length"},
			&cli.BoolFlag{Name: "canonical", Usage: "fill in unset sub-messages as witnet-rust does before encoding"},
			&cli.BoolFlag{Name: "no-validate", Usage: "encode even what a peer would reject"},
		},
		OnUsageError: usageError,
		Action:       oneLineErrors(runEncode),
	}
}

// Item kinds accepted by `message hash --kind`.
const (
	itemBlock       = "block"
	itemTransaction = "transaction"
	itemSuperBlock  = "superblock"
)

func messageHashCommand() *cli.Command {
	return &cli.Command{
		Name:      "hash",
		Usage:     "print the inventory hash of a block, transaction or superblock",
		ArgsUsage: "HEX",
		Description: `HEX is the protobuf encoding of the item itself (a Block, a Transaction or a
SuperBlock, not a whole Message), as an argument or on standard input. The hash is computed
as witnet-rust computes it, over the canonical re-encoding of the item (PROTOCOL.md section 11),
and printed as 64 lowercase hex characters. A block hash depends on the protocol version of
the block's epoch: --protocol selects it (v1.7, v1.8 or v2.0; default v2.0); it does not
apply to the other kinds.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kind", Usage: "item kind: block, transaction or superblock", Required: true},
			&cli.StringFlag{Name: "protocol", Usage: "protocol version for block hashes: v1.7, v1.8 or v2.0 (default v2.0)"},
		},
		OnUsageError: usageError,
		Action:       oneLineErrors(runHash),
	}
}

func runDecode(c *cli.Context) error {
	raw, err := hexInput(c)
	if err != nil {
		return err
	}
	payload := raw
	if c.Bool("framed") {
		if payload, err = unframe(raw); err != nil {
			return err
		}
	}
	msg, err := protocol.Unmarshal(payload)
	if err != nil {
		return err
	}
	out, err := marshalJSON(msg.ProtoReflect())
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(out)
	return err
}

func runEncode(c *cli.Context) error {
	text, err := textInput(c, "JSON")
	if err != nil {
		return err
	}
	msg := new(pb.Message)
	if err := unmarshalJSON([]byte(text), msg.ProtoReflect()); err != nil {
		return fmt.Errorf("invalid message JSON: %w", err)
	}
	if c.Bool("canonical") {
		protocol.Canonicalize(msg)
	}
	if !c.Bool("no-validate") {
		if err := protocol.Validate(msg); err != nil {
			return fmt.Errorf("a peer would reject this message (use --no-validate to encode it anyway): %w", err)
		}
	}
	payload, err := protocol.Marshal(msg)
	if err != nil {
		return err
	}
	out := payload
	if c.Bool("framed") {
		var buf bytes.Buffer
		if err := codec.NewWriter(&buf, 0).WriteFrame(payload); err != nil {
			return err
		}
		out = buf.Bytes()
	}
	_, err = fmt.Fprintln(c.App.Writer, hex.EncodeToString(out))
	return err
}

// newItem returns an empty protobuf value for an item --kind: block, transaction or superblock.
func newItem(kind string) (proto.Message, error) {
	switch kind {
	case itemBlock:
		return new(pb.Block), nil
	case itemTransaction:
		return new(pb.Transaction), nil
	case itemSuperBlock:
		return new(pb.SuperBlock), nil
	}
	return nil, fmt.Errorf("unknown --kind %q: want %s, %s or %s", kind, itemBlock, itemTransaction, itemSuperBlock)
}

func runHash(c *cli.Context) error {
	kind := c.String("kind")
	version := protocol.V2_0
	if c.IsSet("protocol") {
		if kind != itemBlock {
			return fmt.Errorf("--protocol applies only to --kind %s", itemBlock)
		}
		v, err := protocol.ParseProtocolVersion(c.String("protocol"))
		if err != nil {
			return fmt.Errorf("invalid --protocol: %w", err)
		}
		version = v
	}
	item, err := newItem(kind)
	if err != nil {
		return err
	}
	raw, err := hexInput(c)
	if err != nil {
		return err
	}
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, item); err != nil {
		return fmt.Errorf("input is not a protobuf %s: %w", kind, err)
	}
	var h protocol.Hash
	switch it := item.(type) {
	case *pb.Block:
		h, err = protocol.BlockHash(it, version)
	case *pb.Transaction:
		h, err = protocol.TransactionHash(it)
	case *pb.SuperBlock:
		h, err = protocol.SuperBlockHash(it)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, h.String())
	return err
}

// unframe returns the payload of the single frame that makes up raw.
func unframe(raw []byte) ([]byte, error) {
	payload, err := codec.NewReader(bytes.NewReader(raw), 0).ReadFrame()
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		if len(raw) < codec.HeaderSize {
			return nil, fmt.Errorf("frame: %d bytes is shorter than the %d-byte header", len(raw), codec.HeaderSize)
		}
		return nil, fmt.Errorf("frame: truncated payload (%d bytes after the header)", len(raw)-codec.HeaderSize)
	case err != nil:
		return nil, fmt.Errorf("frame: %w", err)
	}
	if extra := len(raw) - codec.HeaderSize - len(payload); extra != 0 {
		return nil, fmt.Errorf("frame: %d bytes follow the frame", extra)
	}
	return payload, nil
}

// hexInput returns the bytes of the HEX argument (or standard input), whitespace ignored.
func hexInput(c *cli.Context) ([]byte, error) {
	text, err := textInput(c, "HEX")
	if err != nil {
		return nil, err
	}
	text = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, text)
	b, err := hex.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("invalid HEX input: %w", err)
	}
	return b, nil
}

// textInput returns the single positional argument, or standard input when there is none,
// with surrounding whitespace trimmed. Empty input is an error.
func textInput(c *cli.Context, what string) (string, error) {
	var text string
	switch c.NArg() {
	case 0:
		data, err := io.ReadAll(io.LimitReader(c.App.Reader, maxInputSize+1))
		if err != nil {
			return "", fmt.Errorf("reading %s from standard input: %w", what, err)
		}
		if len(data) > maxInputSize {
			return "", fmt.Errorf("%s on standard input exceeds %d bytes", what, maxInputSize)
		}
		text = string(data)
	case 1:
		text = c.Args().First()
	default:
		return "", fmt.Errorf("expected one %s argument (or standard input), got %d arguments", what, c.NArg())
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", fmt.Errorf("no %s given: pass it as an argument or on standard input", what)
	}
	return text, nil
}

// oneLineErrors wraps an action so that its error prints on one line: main writes
// "witnet-p2p: <err>" to standard error.
func oneLineErrors(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := action(c); err != nil {
			return lineError{err}
		}
		return nil
	}
}

// lineError is an error whose message has its line breaks replaced by spaces.
type lineError struct{ err error }

func (e lineError) Error() string {
	return strings.Join(strings.FieldsFunc(e.err.Error(), func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}

func (e lineError) Unwrap() error { return e.err }
