package server

import (
	"context"
	"runtime/debug"

	"connectrpc.com/connect"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// GetServerInfo describes the server: what the web UI needs to warn an admin
// about its configuration. Like every admin RPC it is reached only through
// the auth interceptor.
func (h *adminHandler) GetServerInfo(context.Context, *connect.Request[callbacksv1.GetServerInfoRequest]) (*connect.Response[callbacksv1.GetServerInfoResponse], error) {
	return connect.NewResponse(&callbacksv1.GetServerInfoResponse{Server: &callbacksv1.ServerInfo{
		Version:           buildVersion(),
		DevelopmentSecret: h.developmentSecret,
	}}), nil
}

// buildVersion is the main module's version as the go command recorded it:
// a tag or pseudo-version for `go install ...@version`, "(devel)" for a build
// from a source tree.
func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
