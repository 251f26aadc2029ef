package server

import (
	"context"

	"connectrpc.com/connect"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// GetServerInfo describes the server: what the web UI needs to warn an admin
// about its configuration. Like every admin RPC it is reached only through
// the auth interceptor.
func (h *adminHandler) GetServerInfo(context.Context, *connect.Request[callbacksv1.GetServerInfoRequest]) (*connect.Response[callbacksv1.GetServerInfoResponse], error) {
	return connect.NewResponse(&callbacksv1.GetServerInfoResponse{Server: &callbacksv1.ServerInfo{
		Version:           h.build.Version,
		Commit:            h.build.Commit,
		GoVersion:         h.build.GoVersion,
		DevelopmentSecret: h.developmentSecret,
	}}), nil
}
