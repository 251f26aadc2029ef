package callbackclient_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t)
	s := callbackdtest.ForTest(t, callbackdtest.Options{Binary: callbackdBinary, TLSCert: certFile, TLSKey: keyFile})
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, s.Stop()) })

	for name, o := range protocols {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o.Token = callbackdtest.Token
			o.TLS = &tls.Config{RootCAs: roots}
			c, err := callbackclient.New(s.URL, o)
			require.NoError(t, err)
			defer c.Close()
			_, err = c.List(t.Context(), &callbacksv1.ListCallbacksRequest{})
			require.NoError(t, err)

			o.TLS = nil // the system's roots do not know the test CA
			untrusting, err := callbackclient.New(s.URL, o)
			require.NoError(t, err)
			defer untrusting.Close()
			_, err = untrusting.List(t.Context(), &callbacksv1.ListCallbacksRequest{})
			require.Contains(t, []connect.Code{connect.CodeUnavailable, connect.CodeUnknown}, callbackclient.Code(err), "%v", err)
		})
	}
}

// selfSigned writes a test certificate and key for 127.0.0.1.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	certFile, keyFile, roots, err := callbackdtest.SelfSignedCert(t.TempDir())
	require.NoError(t, err)
	return certFile, keyFile, roots
}
