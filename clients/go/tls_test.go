package callbackclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t)
	s, err := callbackdtest.Start(callbackdBinary, t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	require.NoError(t, err)
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

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "callbackclient test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}
