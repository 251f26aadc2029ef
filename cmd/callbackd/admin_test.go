package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/buildinfo"
	"github.com/callbackd/callbackd/internal/webhook"
)

// Credentials of the auth test servers.
const (
	adminToken = "ops-token-0123456789abcdef"
	jwtSecret  = "jwt-secret-0123456789abcdef-0123456789"
)

// jwtFor mints an HS256 JWT with the given role.
func jwtFor(t *testing.T, role string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":          uuid.NewString(),
		"email":        role + "@example.com",
		"exp":          time.Now().Add(time.Hour).Unix(),
		"app_metadata": map[string]any{"role": role},
	}).SignedString([]byte(jwtSecret))
	require.NoError(t, err)
	return tok
}

// httpRule is one rule of proto/callbacks/v1/http.yaml.
type httpRule struct {
	Selector string `yaml:"selector"`
	Get      string `yaml:"get"`
	Post     string `yaml:"post"`
}

// restRoutes reads the REST mapping that the gateway was generated from.
func restRoutes(t *testing.T) map[string]httpRule {
	t.Helper()
	b, err := os.ReadFile("../../proto/callbacks/v1/http.yaml")
	require.NoError(t, err)
	var cfg struct {
		HTTP struct {
			Rules []httpRule `yaml:"rules"`
		} `yaml:"http"`
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	rules := map[string]httpRule{}
	for _, r := range cfg.HTTP.Rules {
		rules[r.Selector] = r
	}
	return rules
}

// TestAdminAuthMatrix calls every method of CallbackAdminService, taken from
// the service descriptor so that a new RPC cannot slip through, on every
// protocol (gRPC, Connect, gRPC-Web, REST through the gateway), with no
// credential, a bad one, a valid non-admin JWT, an admin JWT and an admin
// token, and checks each answer.
func TestAdminAuthMatrix(t *testing.T) {
	t.Parallel()
	// Hundreds of deliberate failures from one address: the failure
	// throttle (tested in TestFailedAdminAuthIsThrottled) is off.
	srv := startServer(t, "", "--admin-token", "ops="+adminToken, "--jwt-hs256-secret", jwtSecret,
		"--jwt-admin-claim", "app_metadata.role=ADMIN", "--admin-auth-failure-rate", "0")
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	rules := restRoutes(t)

	type credential struct {
		name   string
		header string
		code   codes.Code // codes.OK: must get past authentication
		http   int
	}
	credentials := []credential{
		{"none", "", codes.Unauthenticated, 401},
		{"bad token", "Bearer not-a-token", codes.Unauthenticated, 401},
		{"basic scheme", "Basic b3BzOm9wcw==", codes.Unauthenticated, 401},
		{"forged jwt", "Bearer " + jwtFor(t, "ADMIN") + "x", codes.Unauthenticated, 401},
		{"webhook signature is not a credential", "Bearer sha256=" + strings.Repeat("0", 64), codes.Unauthenticated, 401},
		{"non-admin jwt", "Bearer " + jwtFor(t, "user"), codes.PermissionDenied, 403},
		{"admin jwt", "Bearer " + jwtFor(t, "ADMIN"), codes.OK, 0},
		{"admin token", "Bearer " + adminToken, codes.OK, 0},
	}
	service := callbacksv1.File_callbacks_v1_callbacks_proto.Services().ByName("CallbackAdminService")
	require.NotNil(t, service)
	methods := service.Methods()
	require.Equal(t, 13, methods.Len(), "update the expectations below for new RPCs")
	for i := range methods.Len() {
		method := methods.Get(i)
		procedure := "/" + string(service.FullName()) + "/" + string(method.Name())
		rule, ok := rules[string(method.FullName())]
		require.True(t, ok, "%s has no REST route in http.yaml", method.FullName())
		for _, cred := range credentials {
			t.Run(string(method.Name())+"/"+cred.name, func(t *testing.T) {
				t.Parallel()
				check := func(protocol string, code codes.Code) {
					t.Helper()
					if cred.code == codes.OK {
						require.NotContains(t, []codes.Code{codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented}, code, protocol)
						return
					}
					require.Equal(t, cred.code, code, protocol)
				}
				check("grpc", callGRPC(t, conn, procedure, method, cred.header))
				for _, p := range []string{"connect", "grpcweb"} {
					check(p, callConnect(t, srv.base, procedure, method, cred.header, p))
				}
				status, body := callREST(t, srv.base, rule, cred.header)
				if cred.code == codes.OK {
					require.NotContains(t, []int{401, 403, 405, 501}, status, "rest")
					require.NotContains(t, body, "route_not_found", "rest")
				} else {
					require.Equal(t, cred.http, status, "rest")
				}
			})
		}
	}
}

// request builds a request message for method; ids are random UUIDs.
func request(method protoreflect.MethodDescriptor) *dynamicpb.Message {
	msg := dynamicpb.NewMessage(method.Input())
	if f := method.Input().Fields().ByName("id"); f != nil {
		msg.Set(f, protoreflect.ValueOfString(uuid.NewString()))
	}
	return msg
}

// callGRPC invokes method with grpc-go and returns the status code. For
// server streams it reads the first message (the stream's opening heartbeat).
func callGRPC(t *testing.T, conn *grpc.ClientConn, procedure string, method protoreflect.MethodDescriptor, authz string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if authz != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authz)
	}
	if !method.IsStreamingServer() {
		return status.Code(conn.Invoke(ctx, procedure, request(method), dynamicpb.NewMessage(method.Output())))
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, procedure)
	if err != nil {
		return status.Code(err)
	}
	if err := stream.SendMsg(request(method)); err != nil {
		return status.Code(err)
	}
	_ = stream.CloseSend()
	return status.Code(stream.RecvMsg(dynamicpb.NewMessage(method.Output())))
}

// callConnect invokes method with connect-go over the Connect or gRPC-Web
// protocol and returns the status code.
func callConnect(t *testing.T, base, procedure string, method protoreflect.MethodDescriptor, authz, protocol string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	opts := []connect.ClientOption{
		connect.WithSchema(method),
		connect.WithResponseInitializer(func(_ connect.Spec, msg any) error {
			*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(method.Output())
			return nil
		}),
	}
	if protocol == "grpcweb" {
		opts = append(opts, connect.WithGRPCWeb())
	}
	client := connect.NewClient[dynamicpb.Message, dynamicpb.Message](http.DefaultClient, base+procedure, opts...)
	req := connect.NewRequest(request(method))
	if authz != "" {
		req.Header().Set("Authorization", authz)
	}
	if !method.IsStreamingServer() {
		_, err := client.CallUnary(ctx, req)
		return codes.Code(connect.CodeOf(err))
	}
	stream, err := client.CallServerStream(ctx, req)
	if err != nil {
		return codes.Code(connect.CodeOf(err))
	}
	defer stream.Close()
	if stream.Receive() {
		return codes.OK
	}
	return codes.Code(connect.CodeOf(stream.Err()))
}

// callREST calls the method's REST route and returns the HTTP status and
// body. For the watch stream it reads only the status line.
func callREST(t *testing.T, base string, rule httpRule, authz string) (int, string) {
	t.Helper()
	method, path := http.MethodGet, rule.Get
	if rule.Post != "" {
		method, path = http.MethodPost, rule.Post
	}
	path = strings.ReplaceAll(path, "{id}", uuid.NewString())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(nil))
	require.NoError(t, err)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	if strings.HasSuffix(path, "/watch") && res.StatusCode == http.StatusOK {
		return res.StatusCode, ""
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestOpenAPIMatchesRoutes: /openapi.json documents exactly the REST routes
// of http.yaml, and each documented route exists on the server.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	res, err := http.Get(srv.base + "/openapi.json")
	require.NoError(t, err)
	defer res.Body.Close()
	var spec struct {
		Swagger string                    `json:"swagger"`
		Info    map[string]any            `json:"info"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&spec))
	require.Equal(t, "2.0", spec.Swagger)
	require.Equal(t, "callbackd", spec.Info["title"])
	require.Equal(t, buildinfo.Read().Version, spec.Info["version"])
	require.NotEmpty(t, spec.Info["description"])
	// The webhook documents its body (the sender's payload) and every
	// header the verifier reads.
	ingest := spec.Paths["/api/webhooks/llm-callback"]["post"].(map[string]any)
	headers := map[string]bool{}
	var bodySchema any
	for _, p := range ingest["parameters"].([]any) {
		p := p.(map[string]any)
		switch p["in"] {
		case "header":
			headers[p["name"].(string)] = true
			require.NotEmpty(t, p["description"], p["name"])
		case "body":
			bodySchema = p["schema"]
		}
	}
	for _, h := range webhook.Headers() {
		require.True(t, headers[h], "signature header %s is documented", h)
	}
	require.True(t, headers["X-Webhook-Event"])
	require.Equal(t, map[string]any{"$ref": "#/definitions/CallbackPayload"}, bodySchema)
	documented := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	want := map[string]bool{}
	for _, r := range restRoutes(t) {
		if r.Get != "" {
			want["GET "+r.Get] = true
		} else {
			want["POST "+r.Post] = true
		}
	}
	require.Equal(t, want, documented)
	// The watch is documented as what it sends: NDJSON lines whose last may
	// be a REST error body.
	watch := spec.Paths["/api/admin/llm-callbacks/watch"]["get"].(map[string]any)
	require.Equal(t, []any{"application/x-ndjson"}, watch["produces"])
	line := watch["responses"].(map[string]any)["200"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
	require.Equal(t, map[string]any{"$ref": "#/definitions/Error"}, line["error"])
	for route := range documented {
		method, path, _ := strings.Cut(route, " ")
		rule := httpRule{}
		if method == "GET" {
			rule.Get = path
		} else {
			rule.Post = path
		}
		status, body := callREST(t, srv.base, rule, "Bearer "+srv.token)
		require.NotContains(t, body, "route_not_found", route)
		require.NotEqual(t, http.StatusMethodNotAllowed, status, route)
	}
}

// TestOpenAPIV3: /openapi.v3.json is a valid OpenAPI 3 document (checked by
// kin-openapi's validator) with the same routes, info and webhook headers as
// /openapi.json, and the webhook body is the sender's payload.
func TestOpenAPIV3(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	get := func(path string) []byte {
		res, err := http.Get(srv.base + path)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return raw
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(get("/openapi.v3.json"))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."), doc.OpenAPI)
	require.Equal(t, "callbackd", doc.Info.Title)
	require.Equal(t, buildinfo.Read().Version, doc.Info.Version)

	var v2 struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(get("/openapi.json"), &v2))
	v3Routes, v2Routes := map[string]bool{}, map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			v3Routes[method+" "+path] = true
		}
	}
	for path, ops := range v2.Paths {
		for method := range ops {
			v2Routes[strings.ToUpper(method)+" "+path] = true
		}
	}
	require.Equal(t, v2Routes, v3Routes)

	ingest := doc.Paths.Find("/api/webhooks/llm-callback").Post
	for _, h := range webhook.Headers() {
		require.NotNil(t, ingest.Parameters.GetByInAndName("header", h), "header %s", h)
	}
	body := ingest.RequestBody.Value.Content.Get("application/json")
	require.NotNil(t, body)
	require.Equal(t, "#/components/schemas/CallbackPayload", body.Schema.Ref)
	require.ElementsMatch(t, []string{"event", "job_id"}, body.Schema.Value.Required)
}
