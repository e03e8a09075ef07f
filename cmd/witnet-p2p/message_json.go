package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The JSON form of Witnet messages used by `message decode` and `message encode`.
//
// It is the convention of the project's test vectors (protocol/vectors/README.md), made
// exact so that JSON → protobuf → JSON and protobuf → JSON → protobuf lose nothing:
//
//   - keys are the schema's field names; fields appear in field-number order;
//   - a oneof appears as its one set member, {"Version": {...}}; an unset oneof not at all;
//   - every scalar field is written, zero values included; repeated fields as arrays, [] when
//     empty; a singular message field is written when set (an empty one as {}) and left out
//     when unset, which is how it differs on the wire (absent vs tag + 00);
//   - integers are JSON numbers (64-bit ones too: parse them as integers, not floats), enums
//     their number; bytes are lowercase hex; strings are JSON strings;
//   - Hash, PublicKeyHash and PublicKey, messages around a single bytes value, are written as
//     that value in hex: "0404…" for Hash{SHA256: 0404…}. A Hash whose oneof is unset is {}.
//
// When parsing, any field may be left out (zero, empty or unset), null means unset, the
// full object form of the three wrappers is accepted too, integers and enums may also be
// given as decimal strings, enums by name, and floats as "NaN", "Infinity", "-Infinity".
// Unknown or repeated keys, two members of one oneof, and out-of-range numbers are errors.

// hexWrappers maps each message written as a bare hex string to its one bytes field.
var hexWrappers = map[protoreflect.FullName]protoreflect.Name{
	"witnet.Hash":          "SHA256",
	"witnet.PublicKeyHash": "hash",
	"witnet.PublicKey":     "public_key",
}

// wrapperField returns the bytes field of a hex-wrapper message, or nil.
func wrapperField(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	name, ok := hexWrappers[md.FullName()]
	if !ok {
		return nil
	}
	return md.Fields().ByName(name)
}

// marshalJSON renders m in the form described above, indented by two spaces.
func marshalJSON(m protoreflect.Message) ([]byte, error) {
	compact, err := appendMessageJSON(nil, m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("internal error: invalid JSON produced: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func appendMessageJSON(b []byte, m protoreflect.Message) ([]byte, error) {
	md := m.Descriptor()
	if fd := wrapperField(md); fd != nil && (fd.ContainingOneof() == nil || m.Has(fd)) {
		return appendHex(b, m.Get(fd).Bytes()), nil
	}
	b = append(b, '{')
	first := true
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.IsMap() {
			return nil, fmt.Errorf("%s: map fields are not supported", fd.FullName())
		}
		if fd.ContainingOneof() != nil || (fd.Message() != nil && !fd.IsList()) {
			if !m.Has(fd) {
				continue // unset oneof member or unset sub-message
			}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		var err error
		if fd.IsList() {
			list := m.Get(fd).List()
			b = append(b, '[')
			for j := 0; j < list.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = appendValueJSON(b, fd, list.Get(j)); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
			continue
		}
		if b, err = appendValueJSON(b, fd, m.Get(fd)); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendValueJSON(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessageJSON(b, v.Message())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.EnumKind:
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.StringKind:
		return appendString(b, v.String()), nil
	case protoreflect.BytesKind:
		return appendHex(b, v.Bytes()), nil
	}
	return nil, fmt.Errorf("%s: unsupported field kind %s", fd.FullName(), fd.Kind())
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

func appendHex(b []byte, p []byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, p)
	return append(b, '"')
}

// appendString quotes s as JSON without escaping <, > and & (URLs in data requests stay
// readable).
func appendString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // cannot fail for a string
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// unmarshalJSON parses data (the form marshalJSON writes) into m, which must be empty.
func unmarshalJSON(data []byte, m protoreflect.Message) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonParser{dec: dec}
	tok, err := p.token("")
	if err != nil {
		return err
	}
	if err := p.message(tok, m, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("JSON: unexpected data after the message")
	}
	return nil
}

type jsonParser struct {
	dec *json.Decoder
}

// token reads the next JSON token; path names the place for the error message.
func (p *jsonParser) token(path string) (json.Token, error) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		return nil, pathError(path, "unexpected end of JSON")
	}
	if err != nil {
		return nil, pathError(path, "JSON: "+err.Error())
	}
	return tok, nil
}

func pathError(path, msg string) error {
	if path == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", path, msg)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// message parses an object (or, for a hex wrapper, a string) whose first token is tok.
func (p *jsonParser) message(tok json.Token, m protoreflect.Message, path string) error {
	md := m.Descriptor()
	if s, ok := tok.(string); ok {
		fd := wrapperField(md)
		if fd == nil {
			return pathError(path, fmt.Sprintf("expected an object for %s, got a string", md.FullName()))
		}
		b, err := parseHex(s)
		if err != nil {
			return pathError(path, err.Error())
		}
		m.Set(fd, protoreflect.ValueOfBytes(b))
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return pathError(path, fmt.Sprintf("expected an object for %s, got %s", md.FullName(), describe(tok)))
	}
	seen := make(map[protoreflect.Name]bool)
	oneofs := make(map[protoreflect.FullName]protoreflect.Name)
	for p.dec.More() {
		keyTok, err := p.token(path)
		if err != nil {
			return err
		}
		key, _ := keyTok.(string) // object keys are always strings
		fieldPath := joinPath(path, key)
		fd := md.Fields().ByName(protoreflect.Name(key))
		if fd == nil {
			return pathError(path, fmt.Sprintf("unknown field %q in %s", key, md.FullName()))
		}
		if seen[fd.Name()] {
			return pathError(path, fmt.Sprintf("field %q appears twice", key))
		}
		seen[fd.Name()] = true
		tok, err := p.token(fieldPath)
		if err != nil {
			return err
		}
		if tok == nil {
			continue // null: leave unset
		}
		if od := fd.ContainingOneof(); od != nil {
			if other, ok := oneofs[od.FullName()]; ok {
				return pathError(path, fmt.Sprintf("%q and %q are members of the same oneof %q", other, key, od.Name()))
			}
			oneofs[od.FullName()] = fd.Name()
		}
		if err := p.field(tok, m, fd, fieldPath); err != nil {
			return err
		}
	}
	_, err := p.token(path) // the closing '}'
	return err
}

func (p *jsonParser) field(tok json.Token, m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) error {
	if fd.IsMap() {
		return pathError(path, "map fields are not supported")
	}
	if !fd.IsList() {
		v, err := p.value(tok, m.NewField(fd), fd, path)
		if err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return pathError(path, "expected an array, got "+describe(tok))
	}
	list := m.Mutable(fd).List()
	for i := 0; p.dec.More(); i++ {
		elemPath := path + "[" + strconv.Itoa(i) + "]"
		tok, err := p.token(elemPath)
		if err != nil {
			return err
		}
		if tok == nil {
			return pathError(elemPath, "null is not allowed in an array")
		}
		v, err := p.value(tok, list.NewElement(), fd, elemPath)
		if err != nil {
			return err
		}
		list.Append(v)
	}
	_, err := p.token(path) // the closing ']'
	return err
}

// value parses one non-null value of fd's kind. fresh is a new value of the field's type,
// filled in place for messages.
func (p *jsonParser) value(tok json.Token, fresh protoreflect.Value, fd protoreflect.FieldDescriptor, path string) (protoreflect.Value, error) {
	fail := func(msg string) (protoreflect.Value, error) {
		return protoreflect.Value{}, pathError(path, msg)
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if err := p.message(tok, fresh.Message(), path); err != nil {
			return protoreflect.Value{}, err
		}
		return fresh, nil
	case protoreflect.BoolKind:
		b, ok := tok.(bool)
		if !ok {
			return fail("expected true or false, got " + describe(tok))
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.EnumKind:
		if s, ok := tok.(string); ok {
			if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
				return protoreflect.ValueOfEnum(ev.Number()), nil
			}
		}
		s, ok := numberText(tok)
		if !ok {
			return fail("expected an enum number or name of " + string(fd.Enum().FullName()) + ", got " + describe(tok))
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return fail(fmt.Sprintf("invalid enum value %s", s))
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		bits := 64
		if fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.Sint32Kind || fd.Kind() == protoreflect.Sfixed32Kind {
			bits = 32
		}
		s, ok := numberText(tok)
		if !ok {
			return fail("expected an integer, got " + describe(tok))
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return fail(fmt.Sprintf("%s is not a %d-bit signed integer", s, bits))
		}
		if bits == 32 {
			return protoreflect.ValueOfInt32(int32(n)), nil
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		bits := 64
		if fd.Kind() == protoreflect.Uint32Kind || fd.Kind() == protoreflect.Fixed32Kind {
			bits = 32
		}
		s, ok := numberText(tok)
		if !ok {
			return fail("expected an integer, got " + describe(tok))
		}
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return fail(fmt.Sprintf("%s is not a %d-bit unsigned integer", s, bits))
		}
		if bits == 32 {
			return protoreflect.ValueOfUint32(uint32(n)), nil
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		f, err := parseFloat(tok, bits)
		if err != nil {
			return fail(err.Error())
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.StringKind:
		s, ok := tok.(string)
		if !ok {
			return fail("expected a string, got " + describe(tok))
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		s, ok := tok.(string)
		if !ok {
			return fail("expected a hex string, got " + describe(tok))
		}
		b, err := parseHex(s)
		if err != nil {
			return fail(err.Error())
		}
		return protoreflect.ValueOfBytes(b), nil
	}
	return fail("unsupported field kind " + fd.Kind().String())
}

// numberText returns the text of a JSON number, or of a string holding one.
func numberText(tok json.Token) (string, bool) {
	switch t := tok.(type) {
	case json.Number:
		return string(t), true
	case string:
		return t, true
	}
	return "", false
}

func parseFloat(tok json.Token, bits int) (float64, error) {
	switch tok {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	s, ok := numberText(tok)
	if !ok {
		return 0, errors.New("expected a number, got " + describe(tok))
	}
	f, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return 0, fmt.Errorf("%s is not a %d-bit float", s, bits)
	}
	return f, nil
}

func parseHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid hex %q: %v", truncate(s, 20), err)
	}
	return b, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// describe names the kind of a JSON token for error messages.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + string(t)
	case string:
		return fmt.Sprintf("the string %q", truncate(t, 20))
	case json.Delim:
		switch t {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
	}
	return fmt.Sprintf("%v", tok)
}
