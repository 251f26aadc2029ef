package server

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
)

// The RPC protocols, as the request log names them.
const (
	protocolGRPC    = "grpc"
	protocolGRPCWeb = "grpc_web"
	protocolConnect = "connect"
)

// maxOutcomeBytes bounds what is kept of a response to read its code: the
// last frame of a stream, or the start of a Connect unary error body.
const maxOutcomeBytes = 16 << 10

// rpcOutcome reads the code of an RPC's answer from the response as it is
// written, whoever writes it (a handler, connect's own refusals, admitRPC),
// so that the request log names the code of every RPC. The HTTP status does
// not: gRPC answers 200 and puts the code in a trailer, gRPC-Web and
// Connect streams in the last frame of the body; only Connect unary
// answers with the code's own HTTP status and a JSON body.
type rpcOutcome struct {
	protocol string // empty: not an RPC
	stream   bool   // Connect streaming: the code is in the end-of-stream frame
	frames   lastFrame
	body     []byte // the start of a Connect unary error body
}

// newRPCOutcome recognises an RPC by its content type (a Connect unary GET
// has none, so by its path too) and returns what reads its code; the zero
// rpcOutcome for every other request.
func newRPCOutcome(r *http.Request) rpcOutcome {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return rpcOutcome{protocol: protocolGRPCWeb, frames: lastFrame{flag: 0x80}} // the trailers frame
	case strings.HasPrefix(ct, "application/grpc"):
		return rpcOutcome{protocol: protocolGRPC}
	case strings.HasPrefix(ct, "application/connect+"):
		return rpcOutcome{protocol: protocolConnect, stream: true, frames: lastFrame{flag: 0x02}} // end of stream
	case isRPCPath(r.URL.Path):
		return rpcOutcome{protocol: protocolConnect}
	}
	return rpcOutcome{}
}

// isRPCPath reports whether path has the shape of an RPC's,
// /package.Service/Method.
func isRPCPath(path string) bool {
	service, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return ok && strings.Contains(service, ".") && method != "" && !strings.Contains(method, "/")
}

// write sees the body bytes the response sends, with its status so far.
func (o *rpcOutcome) write(p []byte, status int) {
	switch {
	case o.frames.flag != 0:
		o.frames.write(p)
	case o.protocol == protocolConnect && status != http.StatusOK && len(o.body) < maxOutcomeBytes:
		o.body = append(o.body, p[:min(len(p), maxOutcomeBytes-len(o.body))]...)
	}
}

// code returns the RPC's code ("ok", "unauthenticated", …) from the final
// response headers (trailers included) and status, or "" when the response
// does not tell (it ended before its code was written).
func (o *rpcOutcome) code(h http.Header, status int) string {
	switch o.protocol {
	case protocolGRPC:
		return grpcCode(h.Get("Grpc-Status"), h.Get(http.TrailerPrefix+"Grpc-Status"))
	case protocolGRPCWeb:
		if s := h.Get("Grpc-Status"); s != "" { // a trailers-only answer
			return grpcCode(s)
		}
		payload, ok := o.frames.payload(h.Get("Grpc-Encoding"))
		if !ok {
			return ""
		}
		for line := range strings.Lines(string(payload)) {
			if name, value, _ := strings.Cut(line, ":"); strings.EqualFold(strings.TrimSpace(name), "grpc-status") {
				return grpcCode(strings.TrimSpace(value))
			}
		}
		return ""
	case protocolConnect:
		var answer struct {
			Code  string `json:"code"` // a unary error
			Error *struct {
				Code string `json:"code"`
			} `json:"error"` // a stream's end
		}
		if o.stream {
			payload, ok := o.frames.payload(h.Get("Connect-Content-Encoding"))
			if !ok || json.Unmarshal(payload, &answer) != nil {
				return ""
			}
			if answer.Error == nil {
				return "ok"
			}
			return answer.Error.Code
		}
		if status == http.StatusOK || status == http.StatusNotModified {
			return "ok"
		}
		if json.Unmarshal(o.body, &answer) != nil {
			return ""
		}
		return answer.Code
	}
	return ""
}

// grpcCode names the first non-empty numeric gRPC status of values.
func grpcCode(values ...string) string {
	for _, v := range values {
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 32)
		switch {
		case err != nil:
			return ""
		case n == 0:
			return "ok"
		}
		return connect.Code(n).String()
	}
	return ""
}

// lastFrame follows the length-prefixed frames of a streamed body (one flag
// byte, four bytes of length, the payload) and keeps the payload of the
// frame marked with flag, which carries the stream's status.
type lastFrame struct {
	flag      byte
	header    [5]byte
	filled    int    // bytes of header read
	remaining uint32 // payload bytes of the current frame still to come
	current   bool   // the current frame is the marked one
	found     bool
	data      []byte
	flags     byte // of the marked frame
}

func (f *lastFrame) write(p []byte) {
	for len(p) > 0 {
		if f.remaining == 0 && f.filled < len(f.header) {
			n := copy(f.header[f.filled:], p)
			f.filled += n
			p = p[n:]
			if f.filled < len(f.header) {
				return
			}
			f.filled = 0
			f.remaining = binary.BigEndian.Uint32(f.header[1:])
			f.current = f.header[0]&f.flag != 0
			if f.current {
				f.found, f.flags, f.data = true, f.header[0], f.data[:0]
			}
			continue
		}
		n := min(uint32(len(p)), f.remaining)
		if f.current && len(f.data) < maxOutcomeBytes {
			f.data = append(f.data, p[:min(int(n), maxOutcomeBytes-len(f.data))]...)
		}
		f.remaining -= n
		p = p[n:]
	}
}

// payload returns the marked frame's payload, decompressed when its flags
// say it is compressed with encoding (gzip, the one both protocols share).
func (f *lastFrame) payload(encoding string) ([]byte, bool) {
	if !f.found {
		return nil, false
	}
	if f.flags&0x01 == 0 {
		return f.data, true
	}
	if encoding != "gzip" {
		return nil, false
	}
	zr, err := gzip.NewReader(bytes.NewReader(f.data))
	if err != nil {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxOutcomeBytes))
	return data, err == nil
}
