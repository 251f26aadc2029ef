package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/callbackd/callbackd/internal/apierror"
)

// Request decoding answers every malformed request with a documented reason,
// the same on every protocol.
//
// Neither framework lets a decoder's error carry one: connect-go wraps a
// codec's error in an InvalidArgument without details, before any
// interceptor sees it, and the gateway formats its query parser's and body
// decoder's errors into a bare status. So the decoders here do not fail.
// They leave the request empty except for a decodeFailureField that records
// why it could not be decoded, and checkDecoded, the innermost interceptor
// (after authentication), answers it with its reason.
// A REST request takes the same path: the gateway's parser records the
// failure, the message crosses the gRPC hop with it, and the interceptor
// answers.

// decodeFailureField is the field number, reserved in no request message and
// the highest valid one, that carries a decode failure as an unknown field.
// A binary client that sets it itself only chooses which 400 it gets: only
// decodeReasons are honoured.
const decodeFailureField = protowire.MaxValidNumber

// decodeReasons are the reasons a decode failure can carry.
var decodeReasons = map[apierror.Reason]bool{
	apierror.InvalidUTF8:      true,
	apierror.InvalidStatus:    true,
	apierror.InvalidBucket:    true,
	apierror.InvalidTime:      true,
	apierror.InvalidPageSize:  true,
	apierror.InvalidPageToken: true,
	apierror.InvalidID:        true,
	apierror.InvalidCursor:    true,
	apierror.UnknownField:     true,
	apierror.MalformedRequest: true,
}

// fieldReasons name what is wrong when a field's value cannot be decoded
// (an enum name, a timestamp, a number that is not one); other fields are
// malformed_request.
var fieldReasons = map[protoreflect.Name]apierror.Reason{
	"status":             apierror.InvalidStatus,
	"bucket":             apierror.InvalidBucket,
	"create_time_after":  apierror.InvalidTime,
	"create_time_before": apierror.InvalidTime,
	"page_size":          apierror.InvalidPageSize,
	"page_token":         apierror.InvalidPageToken,
	"id":                 apierror.InvalidID,
	"after":              apierror.InvalidCursor,
	"cursor":             apierror.InvalidCursor,
}

// fieldReason is the reason for an undecodable value of fd.
func fieldReason(fd protoreflect.FieldDescriptor) apierror.Reason {
	if r, ok := fieldReasons[fd.Name()]; ok {
		return r
	}
	return apierror.MalformedRequest
}

// markDecodeFailure empties m and records why it could not be decoded.
func markDecodeFailure(m proto.Message, reason apierror.Reason, msg string) {
	proto.Reset(m)
	b := protowire.AppendTag(nil, decodeFailureField, protowire.BytesType)
	b = protowire.AppendString(b, string(reason)+"\n"+msg)
	m.ProtoReflect().SetUnknown(b)
}

// decodeFailure returns the failure markDecodeFailure recorded in m, or nil.
func decodeFailure(m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil
	}
	raw := pm.ProtoReflect().GetUnknown()
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return nil
		}
		raw = raw[n:]
		if num == decodeFailureField && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(raw)
			if n < 0 {
				return nil
			}
			r, msg, _ := strings.Cut(string(v), "\n")
			reason := apierror.Reason(r)
			if !decodeReasons[reason] {
				return nil
			}
			if len(msg) > 256 { // a binary client may have set the field itself
				msg = msg[:256]
			}
			return apierror.New(reason, strings.ToValidUTF8(msg, "\uFFFD"))
		}
		n = protowire.ConsumeFieldValue(num, typ, raw)
		if n < 0 {
			return nil
		}
		raw = raw[n:]
	}
	return nil
}

// quote echoes request text in a message: quoted, escaped, bounded.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return fmt.Sprintf("%q", s)
}

// requestDecoding is the handler options that make request decoding answer
// with reasons: the codecs and the interceptor that reads their verdict. It
// goes last among the handler options, so that checkDecoded runs after
// authentication.
func requestDecoding() connect.HandlerOption {
	return connect.WithHandlerOptions(
		connect.WithCodec(protoBinaryCodec{}),
		connect.WithCodec(protoJSONCodec{name: "json"}),
		connect.WithCodec(protoJSONCodec{name: "json; charset=utf-8"}),
		connect.WithInterceptors(checkDecoded{}),
	)
}

// protoBinaryCodec is connect's binary codec (gRPC, gRPC-Web, Connect with
// application/proto), except that a request it cannot decode is marked
// rather than refused.
type protoBinaryCodec struct{}

func (protoBinaryCodec) Name() string { return "proto" }

// IsBinary tells connect that this codec's output is not text.
func (protoBinaryCodec) IsBinary() bool { return true }

func (protoBinaryCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return proto.Marshal(pm)
}

// MarshalAppend lets connect reuse its buffers, as with its own codec.
func (protoBinaryCodec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, pm)
}

func (protoBinaryCodec) Unmarshal(data []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal into %T: not a protobuf message", m)
	}
	if proto.Unmarshal(data, pm) == nil {
		return nil
	}
	if field, ok := invalidUTF8Field(pm.ProtoReflect().Descriptor(), data); ok {
		markDecodeFailure(pm, apierror.InvalidUTF8, field+": not valid UTF-8")
		return nil
	}
	markDecodeFailure(pm, apierror.MalformedRequest, "request: not a valid "+string(pm.ProtoReflect().Descriptor().Name())+" in protobuf binary")
	return nil
}

// invalidUTF8Field finds a string field, at any depth, whose value in the
// protobuf binary data is not UTF-8, and returns its path.
func invalidUTF8Field(desc protoreflect.MessageDescriptor, data []byte) (string, bool) {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return "", false
		}
		data = data[n:]
		fd := desc.Fields().ByNumber(num)
		if typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return "", false
			}
			data = data[n:]
			switch {
			case fd == nil:
			case fd.Kind() == protoreflect.StringKind && !utf8.Valid(v):
				return string(fd.Name()), true
			case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
				if inner, ok := invalidUTF8Field(fd.Message(), v); ok {
					return string(fd.Name()) + "." + inner, true
				}
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return "", false
		}
		data = data[n:]
	}
	return "", false
}

// protoJSONCodec is connect's JSON codec, except that it refuses what the
// REST gateway refuses (unknown fields and enum names, which connect's
// discards: a filter that silently disappears answers a question nobody
// asked), and marks a request it cannot decode rather than refusing it.
type protoJSONCodec struct{ name string }

func (c protoJSONCodec) Name() string { return c.name }

// IsBinary tells connect that this codec's output is text.
func (protoJSONCodec) IsBinary() bool { return false }

func (protoJSONCodec) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return protojson.Marshal(pm)
}

// MarshalAppend lets connect reuse its buffers, as with its own codec.
func (protoJSONCodec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", m)
	}
	return protojson.MarshalOptions{}.MarshalAppend(dst, pm)
}

func (protoJSONCodec) Unmarshal(data []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal into %T: not a protobuf message", m)
	}
	unmarshalJSON(data, pm)
	return nil
}

// unmarshalJSON decodes a JSON request strictly into m, or marks m with the
// reason it cannot be decoded.
func unmarshalJSON(data []byte, m proto.Message) {
	if protojson.Unmarshal(data, m) == nil {
		return
	}
	reason, msg := classifyJSON(m, data)
	markDecodeFailure(m, reason, msg)
}

// classifyJSON finds why data, which protojson refused, is not a JSON form
// of m: the first field (in key order) whose value alone is refused names
// the reason.
func classifyJSON(m proto.Message, data []byte) (reason apierror.Reason, msg string) {
	if !utf8.Valid(data) {
		return apierror.InvalidUTF8, "request: not valid UTF-8"
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return apierror.MalformedRequest, "request: not a JSON object"
	}
	desc := m.ProtoReflect().Descriptor()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fd := desc.Fields().ByJSONName(k)
		if fd == nil {
			fd = desc.Fields().ByTextName(k)
		}
		if fd == nil {
			return apierror.UnknownField, "unknown field " + quote(k)
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if protojson.Unmarshal(one, m.ProtoReflect().New().Interface()) == nil {
			continue
		}
		var s string
		if fd.Kind() == protoreflect.StringKind && json.Unmarshal(fields[k], &s) == nil {
			// A JSON string that protojson refuses for a string field holds
			// an escaped lone surrogate: not UTF-8 once decoded.
			return apierror.InvalidUTF8, string(fd.Name()) + ": not valid UTF-8"
		}
		return fieldReason(fd), string(fd.Name()) + ": invalid value " + quote(string(fields[k]))
	}
	return apierror.MalformedRequest, "request: not a valid " + string(desc.Name()) + " in JSON"
}

// checkDecoded answers a request that its codec marked as undecodable. It
// is the innermost interceptor: unauthenticated callers get 401 first.
type checkDecoded struct{}

func (checkDecoded) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := decodeFailure(req.Any()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (checkDecoded) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (checkDecoded) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, checkedConn{conn})
	}
}

// checkedConn refuses the messages of a stream that their codec marked.
type checkedConn struct {
	connect.StreamingHandlerConn
}

func (c checkedConn) Receive(m any) error {
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if err := decodeFailure(m); err != nil {
		return err
	}
	return nil
}

// queryParser fills REST requests from their query strings like the
// gateway's, except that it refuses what Connect and gRPC refuse (invalid
// UTF-8, unknown parameters) and marks a request whose query it cannot
// decode, with the reason, rather than answering a reasonless 400.
type queryParser struct{}

// Parse implements runtime.QueryParameterParser.
func (queryParser) Parse(m proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !utf8.ValidString(k) {
			markDecodeFailure(m, apierror.InvalidUTF8, "query parameter name "+quote(k)+": not valid UTF-8")
			return nil
		}
		fd := queryField(m.ProtoReflect().Descriptor(), k)
		if fd == nil {
			markDecodeFailure(m, apierror.UnknownField, "unknown query parameter "+quote(k))
			return nil
		}
		for _, v := range values[k] {
			if !utf8.ValidString(v) {
				markDecodeFailure(m, apierror.InvalidUTF8, k+": not valid UTF-8")
				return nil
			}
		}
	}
	var parser runtime.DefaultQueryParser
	if parser.Parse(m, values, filter) == nil {
		return nil
	}
	for _, k := range keys {
		probe := m.ProtoReflect().New().Interface()
		if parser.Parse(probe, url.Values{k: values[k]}, filter) != nil {
			// The top-level field names the reason: create_time_after.seconds
			// is a time.
			top, _, _ := strings.Cut(k, ".")
			markDecodeFailure(m, fieldReason(queryField(m.ProtoReflect().Descriptor(), top)), k+": invalid value "+quote(strings.Join(values[k], ",")))
			return nil
		}
	}
	// Each parameter parses alone: two of them name the same field.
	markDecodeFailure(m, apierror.MalformedRequest, "query: a field is given twice")
	return nil
}

// queryField resolves a dotted query parameter name (proto or JSON field
// names) to its field, or nil.
func queryField(desc protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for i, name := range strings.Split(key, ".") {
		if i > 0 {
			if fd.Kind() != protoreflect.MessageKind || fd.IsMap() || fd.IsList() {
				return nil
			}
			desc = fd.Message()
		}
		fd = desc.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			fd = desc.Fields().ByJSONName(name)
		}
		if fd == nil {
			return nil
		}
	}
	return fd
}

// decodeJSONBody decodes a REST request body into m with unmarshalJSON. An
// empty body is io.EOF, which the gateway takes as an empty message.
func decodeJSONBody(r io.Reader, m proto.Message) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return io.EOF
	}
	unmarshalJSON(data, m)
	return nil
}
