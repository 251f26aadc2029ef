package server

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// frame is one length-prefixed frame of a streamed body.
func frame(flags byte, payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	b[0] = flags
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

func gzipped(t *testing.T, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write(p)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// TestRPCOutcomeReadsTheCodeFromTheBody: the code of a gRPC-Web or Connect
// stream is found in its last frame however the body is cut into writes,
// compressed or not, after messages of any size (empty ones included).
func TestRPCOutcomeReadsTheCodeFromTheBody(t *testing.T) {
	t.Parallel()
	message := bytes.Repeat([]byte{0x80, 0x02}, 3000) // flag bytes inside payloads must not confuse it
	for _, tc := range []struct {
		name, contentType string
		header            http.Header
		body              []byte
		want              string
	}{
		{"grpc-web trailers after messages", "application/grpc-web+proto", nil,
			bytes.Join([][]byte{frame(0, message), frame(0, nil), frame(0x80, []byte("grpc-message: no\r\ngrpc-status: 5\r\n"))}, nil), "not_found"},
		{"grpc-web compressed trailers", "application/grpc-web+proto", http.Header{"Grpc-Encoding": {"gzip"}},
			bytes.Join([][]byte{frame(1, gzipped(t, message)), frame(0x81, gzipped(t, []byte("grpc-status: 0\r\n")))}, nil), "ok"},
		{"connect stream ending well", "application/connect+proto", nil,
			bytes.Join([][]byte{frame(0, message), frame(2, []byte(`{}`))}, nil), "ok"},
		{"connect stream ending in an error", "application/connect+json", nil,
			bytes.Join([][]byte{frame(0, message), frame(2, []byte(`{"error":{"code":"unavailable","message":"resume"}}`))}, nil), "unavailable"},
		{"connect compressed end of stream", "application/connect+proto", http.Header{"Connect-Content-Encoding": {"gzip"}},
			frame(3, gzipped(t, []byte(`{"error":{"code":"resource_exhausted"}}`))), "resource_exhausted"},
		{"a stream cut before its end", "application/connect+proto", nil, frame(0, message)[:100], ""},
	} {
		for _, chunk := range []int{1, 7, 1 << 20} {
			r, err := http.NewRequest(http.MethodPost, "/callbacks.v1.CallbackAdminService/WatchCallbacks", nil)
			require.NoError(t, err)
			r.Header.Set("Content-Type", tc.contentType)
			o := newRPCOutcome(r)
			for b := tc.body; len(b) > 0; b = b[min(chunk, len(b)):] {
				o.write(b[:min(chunk, len(b))], http.StatusOK)
			}
			require.Equal(t, tc.want, o.code(tc.header, http.StatusOK), "%s, writes of %d bytes", tc.name, chunk)
		}
	}
}

func TestIsRPCPath(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"/callbacks.v1.CallbackAdminService/ListCallbacks": true,
		"/grpc.health.v1.Health/Check":                     true,
		"/api/admin/llm-callbacks":                         false,
		"/openapi.json":                                    false,
		"/openapi.v3.json":                                 false,
		"/assets/index-1.2.js":                             false,
		"/a.b/c/d":                                         false,
		"/a.b/":                                            false,
	} {
		require.Equal(t, want, isRPCPath(path), path)
	}
}
