package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/webhook"
)

// verifyErrors are every error Verify refuses a delivery with.
var verifyErrors = []error{
	webhook.ErrSignatureMissing, webhook.ErrSignatureMalformed, webhook.ErrSignatureMismatch,
	webhook.ErrTimestampMalformed, webhook.ErrTimestampOutOfTolerance,
}

// FuzzVerify feeds arbitrary headers and bodies to verifiers. The seed corpus
// in testdata/fuzz/FuzzVerify holds deliveries validly signed for newVerifier
// at the time now, and malformed variants. Properties: Verify never panics;
// it fails only with one of its Err* errors; it verifies only when the header really
// holds the HMAC of the body under the named secret (checked here by a
// separate implementation); a verifier holding other secrets never verifies;
// and "unsigned" is returned only when no signature header is present.
func FuzzVerify(f *testing.F) {
	right := newVerifier(f, false)
	unsigned := newVerifier(f, true)
	wrong, err := webhook.NewVerifier(webhook.Config{
		Secrets: map[string][]string{
			webhook.SchemeLLM:      {"service=" + llmService + "x", llmJob + "x"},
			webhook.SchemeStandard: {"whsec_" + base64.StdEncoding.EncodeToString([]byte("other"))},
			webhook.SchemeGitHub:   {gitHub + "x"},
			webhook.SchemeStripe:   {stripe + "x"},
		},
		AllowUnsigned: true,
		Now:           func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	secrets := map[string]string{"service": llmService, "secret-2": llmJob, "gh": gitHub, "new": stripe, "old": "whatever"}
	standardKey, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(standard, "whsec_"))

	f.Fuzz(func(t *testing.T, body []byte, llmSig, id, ts, standardSig, gitHubSig, stripeSig string) {
		h := http.Header{}
		for name, value := range map[string]string{
			webhook.HeaderLLMSignature: llmSig, webhook.HeaderStandardID: id, webhook.HeaderStandardTimestamp: ts,
			webhook.HeaderStandardSignature: standardSig, webhook.HeaderGitHubSignature: gitHubSig, webhook.HeaderStripeSignature: stripeSig,
		} {
			h.Set(name, value)
		}
		anySignature := llmSig != "" || standardSig != "" || gitHubSig != "" || stripeSig != ""

		res, err := right.Verify(h, body)
		if err != nil {
			if !slices.ContainsFunc(verifyErrors, func(want error) bool { return errors.Is(err, want) }) || res != (webhook.Result{}) {
				t.Fatalf("failure %v with result %+v", err, res)
			}
		} else {
			var ok bool
			switch res.Scheme {
			case webhook.SchemeLLM:
				ok = strings.EqualFold(llmSig, "sha256="+hex.EncodeToString(refMAC([]byte(secrets[res.KeyName]), body)))
			case webhook.SchemeGitHub:
				ok = strings.EqualFold(gitHubSig, "sha256="+hex.EncodeToString(refMAC([]byte(secrets[res.KeyName]), body)))
			case webhook.SchemeStandard:
				sig := base64.StdEncoding.EncodeToString(refMAC(standardKey, []byte(id+"."+ts+"."+string(body))))
				ok = strings.Contains(" "+standardSig+" ", " v1,"+sig+" ") && inWindow(ts)
			case webhook.SchemeStripe:
				var t string
				for item := range strings.SplitSeq(stripeSig, ",") {
					if v, found := strings.CutPrefix(item, "t="); found {
						t = v
					}
				}
				sig := hex.EncodeToString(refMAC([]byte(secrets[res.KeyName]), []byte(t+"."+string(body))))
				ok = strings.Contains(","+stripeSig+",", ",v1="+sig+",") && inWindow(t)
			}
			if !ok || !res.Valid || res.KeyName == "" {
				t.Fatalf("verified %+v without a matching signature", res)
			}
		}

		if res, err := wrong.Verify(h, body); err == nil && res.Valid {
			t.Fatalf("verified %+v with the wrong secrets", res)
		}
		if res, err := unsigned.Verify(h, body); err == nil && res.Scheme == webhook.SchemeUnsigned && (anySignature || res.Valid) {
			t.Fatalf("unsigned result %+v for a delivery with a signature", res)
		}
	})
}

// refMAC is HMAC-SHA256, written apart from the package's own.
func refMAC(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// inWindow reports whether ts is unix seconds within the default tolerance of now.
func inWindow(ts string) bool {
	unix, err := strconv.ParseInt(ts, 10, 64)
	tol := int64(webhook.DefaultTolerance / time.Second)
	return err == nil && unix >= now.Unix()-tol && unix <= now.Unix()+tol
}
