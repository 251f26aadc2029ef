package server

import (
	"net/url"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/apierror"
)

// reasonOfDecode returns the reason recorded in m, or "".
func reasonOfDecode(t *testing.T, m proto.Message) apierror.Reason {
	t.Helper()
	return apierror.Of(decodeFailure(m))
}

// TestDecodeFailureCrossesTheGatewayHop: a failure the REST parser records
// survives the protobuf round trip to the handlers, and the field carries
// only documented reasons.
func TestDecodeFailureCrossesTheGatewayHop(t *testing.T) {
	t.Parallel()
	m := &callbacksv1.ListCallbacksRequest{WorkflowName: "w"}
	markDecodeFailure(m, apierror.InvalidStatus, "status: invalid value \"nope\"")
	require.Empty(t, m.GetWorkflowName(), "a marked request is otherwise empty")
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	var got callbacksv1.ListCallbacksRequest
	require.NoError(t, protoBinaryCodec{}.Unmarshal(b, &got))
	require.Equal(t, apierror.InvalidStatus, reasonOfDecode(t, &got))

	forged := protowire.AppendTag(nil, decodeFailureField, protowire.BytesType)
	forged = protowire.AppendString(forged, "made_up\nhello")
	require.NoError(t, protoBinaryCodec{}.Unmarshal(forged, &got))
	require.Empty(t, reasonOfDecode(t, &got), "an undocumented reason is ignored")
}

func TestDecodersNameTheReason(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		json   string
		reason apierror.Reason
	}{
		{`{"workflowName":"ok","status":"CALLBACK_STATUS_ERROR","pageSize":3}`, ""},
		{`{"workflow_name":"proto names too"}`, ""},
		{`{"status":"nope"}`, "invalid_status"},
		{`{"status":99}`, ""}, // the handler refuses it: binary clients can send it too
		{`{"createTimeAfter":"yesterday"}`, "invalid_time"},
		{`{"pageSize":"many"}`, "invalid_page_size"},
		{`{"pageToken":5}`, "invalid_page_token"},
		{`{"eventType":5}`, "malformed_request"},
		{`{"workflowName":"\udc00"}`, "invalid_utf8"},
		{"{\"workflowName\":\"\xff\"}", "invalid_utf8"},
		{`{"nope":1}`, "unknown_field"},
		{`{"status":"nope","aaa":1}`, "unknown_field"},
		{`[]`, "malformed_request"},
		{``, "malformed_request"},
		{`{"pageSize":1,"page_size":2}`, "malformed_request"},
	} {
		var m callbacksv1.ListCallbacksRequest
		require.NoError(t, protoJSONCodec{name: "json"}.Unmarshal([]byte(c.json), &m))
		require.Equal(t, c.reason, reasonOfDecode(t, &m), c.json)
	}
	for _, c := range []struct {
		query  string
		reason apierror.Reason
	}{
		{"status=CALLBACK_STATUS_ERROR&workflow_name=w&create_time_after=2025-01-01T00:00:00Z", ""},
		{"status=2", ""},
		{"status=99", "invalid_status"},
		{"status=nope", "invalid_status"},
		{"create_time_before=yesterday", "invalid_time"},
		{"create_time_before.seconds=x", "invalid_time"},
		{"page_size=many", "invalid_page_size"},
		{"workflow_name=%FF", "invalid_utf8"},
		{"%FF=1", "invalid_utf8"},
		{"nope=1", "unknown_field"},
		{"create_time_after.nope=1", "unknown_field"},
		{"pageSize=1&page_size=2", "malformed_request"},
	} {
		values, err := url.ParseQuery(c.query)
		require.NoError(t, err)
		var m callbacksv1.ListCallbacksRequest
		require.NoError(t, queryParser{}.Parse(&m, values, utilities.NewDoubleArray(nil)))
		require.Equal(t, c.reason, reasonOfDecode(t, &m), c.query)
	}
	var m callbacksv1.ListCallbacksRequest
	require.NoError(t, protoBinaryCodec{}.Unmarshal([]byte{0xff, 0xff}, &m))
	require.Equal(t, apierror.MalformedRequest, reasonOfDecode(t, &m))
	b := protowire.AppendTag(nil, 5, protowire.BytesType)
	require.NoError(t, protoBinaryCodec{}.Unmarshal(protowire.AppendString(b, "\xff"), &m))
	require.Equal(t, apierror.InvalidUTF8, reasonOfDecode(t, &m))
}
