package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/webhook"
)

// Secrets of the test verifier, by scheme.
const (
	llmService = "default-webhook-secret-change-in-production"
	llmJob     = "per-job-secret"
	standard   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the Standard Webhooks specification's example
	gitHub     = "gh-secret"
	stripe     = "stripe-secret"
)

// now is the test verifier's clock.
var now = time.Unix(1700000000, 0)

var body = []byte(`{"event":"workflow.completed","job_id":"j1"}`)

// newVerifier returns a verifier with every scheme enabled, two LLM secrets
// (one bare, so named secret-2) and the fixed clock.
func newVerifier(t testing.TB, allowUnsigned bool) *webhook.Verifier {
	t.Helper()
	v, err := webhook.NewVerifier(webhook.Config{
		Secrets: map[string][]string{
			webhook.SchemeLLM:      {"service=" + llmService, "  " + llmJob + "\n"},
			webhook.SchemeStandard: {"svix=" + standard},
			webhook.SchemeGitHub:   {"gh=" + gitHub},
			webhook.SchemeStripe:   {"old=whatever", "new=" + stripe},
		},
		AllowUnsigned: allowUnsigned,
		Now:           func() time.Time { return now },
	})
	require.NoError(t, err)
	return v
}

// headers builds a header set from name, value pairs.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// verifyCase is one delivery and the outcome expected for it.
type verifyCase struct {
	name    string
	header  http.Header
	body    []byte // defaults to body
	scheme  string // on success
	keyName string // on success
	err     error  // on failure
}

func runVerifyCases(t *testing.T, v *webhook.Verifier, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := tc.body
			if b == nil {
				b = body
			}
			res, err := v.Verify(tc.header, b)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.Equal(t, webhook.Result{}, res)
				require.Equal(t, apierror.Of(tc.err), apierror.Of(err))
				for _, secret := range []string{llmService, llmJob, standard, gitHub, stripe} {
					require.NotContains(t, err.Error(), secret)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, webhook.Result{Valid: true, Scheme: tc.scheme, KeyName: tc.keyName}, res)
		})
	}
}

func TestVerifyLLM(t *testing.T) {
	t.Parallel()
	sig := webhook.SignLLM(llmService, body)
	runVerifyCases(t, newVerifier(t, false), []verifyCase{
		{name: "service secret", header: headers(webhook.HeaderLLMSignature, sig), scheme: webhook.SchemeLLM, keyName: "service"},
		{name: "bare per-job secret, trimmed", header: headers(webhook.HeaderLLMSignature, webhook.SignLLM(llmJob, body)), scheme: webhook.SchemeLLM, keyName: "secret-2"},
		{name: "sender trims its secret too", header: headers(webhook.HeaderLLMSignature, webhook.SignLLM(" "+llmJob+"\t", body)), scheme: webhook.SchemeLLM, keyName: "secret-2"},
		{name: "upper-case hex", header: headers(webhook.HeaderLLMSignature, "sha256="+strings.ToUpper(sig[7:])), scheme: webhook.SchemeLLM, keyName: "service"},
		{name: "wrong secret", header: headers(webhook.HeaderLLMSignature, webhook.SignLLM("guess", body)), err: webhook.ErrSignatureMismatch},
		{name: "other body", header: headers(webhook.HeaderLLMSignature, sig), body: []byte(`{}`), err: webhook.ErrSignatureMismatch},
		{name: "no prefix", header: headers(webhook.HeaderLLMSignature, sig[7:]), err: webhook.ErrSignatureMalformed},
		{name: "other prefix", header: headers(webhook.HeaderLLMSignature, "sha1="+sig[7:]), err: webhook.ErrSignatureMalformed},
		{name: "bad hex", header: headers(webhook.HeaderLLMSignature, sig[:len(sig)-1]+"g"), err: webhook.ErrSignatureMalformed},
		{name: "short", header: headers(webhook.HeaderLLMSignature, sig[:len(sig)-2]), err: webhook.ErrSignatureMalformed},
		{name: "long", header: headers(webhook.HeaderLLMSignature, sig+"00"), err: webhook.ErrSignatureMalformed},
		{name: "no header", header: headers(), err: webhook.ErrSignatureMissing},
	})
}

func TestVerifyGitHub(t *testing.T) {
	t.Parallel()
	runVerifyCases(t, newVerifier(t, false), []verifyCase{
		{name: "valid", header: headers(webhook.HeaderGitHubSignature, webhook.SignGitHub(gitHub, body)), scheme: webhook.SchemeGitHub, keyName: "gh"},
		{name: "wrong secret", header: headers(webhook.HeaderGitHubSignature, webhook.SignGitHub(llmService, body)), err: webhook.ErrSignatureMismatch},
		{name: "sha1 header only", header: headers("X-Hub-Signature", "sha1=0000"), err: webhook.ErrSignatureMissing},
		{name: "malformed", header: headers(webhook.HeaderGitHubSignature, "sha256=xyz"), err: webhook.ErrSignatureMalformed},
	})
}

func TestVerifyStandard(t *testing.T) {
	t.Parallel()
	sign := func(ts time.Time) string {
		sig, err := webhook.SignStandard(standard, "msg_1", ts, body)
		require.NoError(t, err)
		return sig
	}
	hdr := func(ts time.Time, sig string) http.Header {
		return headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardTimestamp, strconv.FormatInt(ts.Unix(), 10), webhook.HeaderStandardSignature, sig)
	}
	tol := webhook.DefaultTolerance
	ok := func(name string, h http.Header) verifyCase {
		return verifyCase{name: name, header: h, scheme: webhook.SchemeStandard, keyName: "svix"}
	}
	bad := func(name string, h http.Header, err error) verifyCase {
		return verifyCase{name: name, header: h, err: err}
	}
	runVerifyCases(t, newVerifier(t, false), []verifyCase{
		ok("valid", hdr(now, sign(now))),
		ok("several signatures, one valid", hdr(now, "v1,"+strings.Repeat("A", 43)+"= v1a,xyz "+sign(now))),
		ok("oldest accepted", hdr(now.Add(-tol), sign(now.Add(-tol)))),
		ok("newest accepted", hdr(now.Add(tol), sign(now.Add(tol)))),
		bad("too old", hdr(now.Add(-tol-time.Second), sign(now.Add(-tol-time.Second))), webhook.ErrTimestampOutOfTolerance),
		bad("too new", hdr(now.Add(tol+time.Second), sign(now.Add(tol+time.Second))), webhook.ErrTimestampOutOfTolerance),
		bad("bad signature outside the window is a mismatch", hdr(now.Add(-time.Hour), sign(now)), webhook.ErrSignatureMismatch),
		bad("timestamp not signed", hdr(now.Add(time.Second), sign(now)), webhook.ErrSignatureMismatch),
		bad("other body", headers(webhook.HeaderStandardID, "msg_2", webhook.HeaderStandardTimestamp, strconv.FormatInt(now.Unix(), 10), webhook.HeaderStandardSignature, sign(now)), webhook.ErrSignatureMismatch),
		bad("no id", headers(webhook.HeaderStandardTimestamp, strconv.FormatInt(now.Unix(), 10), webhook.HeaderStandardSignature, sign(now)), webhook.ErrSignatureMalformed),
		bad("no timestamp", headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardSignature, sign(now)), webhook.ErrTimestampMalformed),
		bad("signed timestamp", headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardTimestamp, "+1700000000", webhook.HeaderStandardSignature, sign(now)), webhook.ErrTimestampMalformed),
		bad("timestamp in milliseconds overflowing", headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardTimestamp, "99999999999999999999", webhook.HeaderStandardSignature, sign(now)), webhook.ErrTimestampMalformed),
		bad("bad base64", hdr(now, "v1,!!!"), webhook.ErrSignatureMalformed),
		bad("no version", hdr(now, "abc"), webhook.ErrSignatureMalformed),
		bad("no v1", hdr(now, "v1a,abc"), webhook.ErrSignatureMalformed),
	})
}

// TestVerifyStandardSvixHeaders accepts the svix-* header family that Svix
// sends by default, and checks the rule for a delivery carrying both
// families: each family is read whole (its own id and timestamp), webhook-*
// is tried first, either one verifying accepts the delivery, and when neither
// does the reason is the webhook-* family's.
func TestVerifyStandardSvixHeaders(t *testing.T) {
	t.Parallel()
	ts := strconv.FormatInt(now.Unix(), 10)
	sign := func(id string) string {
		sig, err := webhook.SignStandard(standard, id, now, body)
		require.NoError(t, err)
		return sig
	}
	webhookFamily := func(id, ts, sig string) []string {
		return []string{webhook.HeaderStandardID, id, webhook.HeaderStandardTimestamp, ts, webhook.HeaderStandardSignature, sig}
	}
	svixFamily := func(id, ts, sig string) []string {
		return []string{webhook.HeaderSvixID, id, webhook.HeaderSvixTimestamp, ts, webhook.HeaderSvixSignature, sig}
	}
	both := func(a, b []string) http.Header { return headers(append(a, b...)...) }
	ok := func(name string, h http.Header) verifyCase {
		return verifyCase{name: name, header: h, scheme: webhook.SchemeStandard, keyName: "svix"}
	}
	bad := func(name string, h http.Header, err error) verifyCase {
		return verifyCase{name: name, header: h, err: err}
	}
	stale := strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)
	runVerifyCases(t, newVerifier(t, false), []verifyCase{
		ok("svix headers", headers(svixFamily("msg_1", ts, sign("msg_1"))...)),
		ok("lower-case svix headers", headers("svix-id", "msg_1", "svix-timestamp", ts, "svix-signature", sign("msg_1"))),
		bad("svix headers, other body", headers(svixFamily("msg_2", ts, sign("msg_1"))...), webhook.ErrSignatureMismatch),
		bad("svix signature without svix id", headers(webhook.HeaderSvixTimestamp, ts, webhook.HeaderSvixSignature, sign("msg_1")), webhook.ErrSignatureMalformed),
		bad("svix signature never reads the webhook-* id and timestamp", headers(webhook.HeaderStandardID, "msg_1", webhook.HeaderStandardTimestamp, ts, webhook.HeaderSvixSignature, sign("msg_1")), webhook.ErrSignatureMalformed),
		bad("webhook signature never reads the svix-* id and timestamp", headers(webhook.HeaderSvixID, "msg_1", webhook.HeaderSvixTimestamp, ts, webhook.HeaderStandardSignature, sign("msg_1")), webhook.ErrSignatureMalformed),
		ok("both families, both valid", both(webhookFamily("msg_1", ts, sign("msg_1")), svixFamily("msg_1", ts, sign("msg_1")))),
		ok("both families, only webhook-* valid", both(webhookFamily("msg_1", ts, sign("msg_1")), svixFamily("msg_1", ts, "v1,AAAA"))),
		ok("both families, only svix-* valid", both(webhookFamily("msg_1", ts, "v1,AAAA"), svixFamily("msg_2", ts, sign("msg_2")))),
		bad("both families invalid: the webhook-* reason", both(webhookFamily("msg_1", ts, "v1,!!!"), svixFamily("msg_2", ts, sign("msg_1"))), webhook.ErrSignatureMalformed),
		bad("both families invalid, other order of reasons", both(webhookFamily("msg_2", ts, sign("msg_1")), svixFamily("msg_1", ts, "v1,!!!")), webhook.ErrSignatureMismatch),
		bad("svix-* stale", headers(svixFamily("msg_1", stale, sign("msg_1"))...), webhook.ErrSignatureMismatch),
	})

	// Not enabled: svix-* headers still claim a signature, so that they
	// never degrade to unsigned.
	v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {llmService}}, AllowUnsigned: true})
	require.NoError(t, err)
	_, err = v.Verify(headers(svixFamily("msg_1", ts, sign("msg_1"))...), body)
	require.ErrorIs(t, err, webhook.ErrSignatureMissing)
}

func TestVerifyStandardSpecificationVector(t *testing.T) {
	t.Parallel()
	ts := time.Unix(1614265330, 0)
	v, err := webhook.NewVerifier(webhook.Config{
		Secrets: map[string][]string{webhook.SchemeLLM: {llmService}, webhook.SchemeStandard: {standard}},
		Now:     func() time.Time { return ts },
	})
	require.NoError(t, err)
	body := []byte(`{"test": 2432232314}`)
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	sig, err := webhook.SignStandard(standard, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	require.NoError(t, err)
	require.Equal(t, want, sig)
	res, err := v.Verify(headers(webhook.HeaderStandardID, "msg_p5jXN8AQM9LWM0D4loKWxJek", webhook.HeaderStandardTimestamp, "1614265330", webhook.HeaderStandardSignature, want), body)
	require.NoError(t, err)
	require.Equal(t, webhook.Result{Valid: true, Scheme: webhook.SchemeStandard, KeyName: "secret-1"}, res)
}

func TestVerifyStripe(t *testing.T) {
	t.Parallel()
	tol := webhook.DefaultTolerance
	sig := func(ts time.Time) string {
		_, v1, _ := strings.Cut(webhook.SignStripe(stripe, ts, body), ",")
		return v1
	}
	hdr := func(v string) http.Header { return headers(webhook.HeaderStripeSignature, v) }
	ok := func(name, v string) verifyCase {
		return verifyCase{name: name, header: hdr(v), scheme: webhook.SchemeStripe, keyName: "new"}
	}
	bad := func(name, v string, err error) verifyCase {
		return verifyCase{name: name, header: hdr(v), err: err}
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	runVerifyCases(t, newVerifier(t, false), []verifyCase{
		ok("valid", webhook.SignStripe(stripe, now, body)),
		ok("several v1, test-mode v0 ignored", "t="+ts+",v0=zz,v1="+strings.Repeat("00", 32)+","+sig(now)),
		ok("oldest accepted", webhook.SignStripe(stripe, now.Add(-tol), body)),
		ok("newest accepted", webhook.SignStripe(stripe, now.Add(tol), body)),
		bad("too old", webhook.SignStripe(stripe, now.Add(-tol-time.Second), body), webhook.ErrTimestampOutOfTolerance),
		bad("too new", webhook.SignStripe(stripe, now.Add(tol+time.Second), body), webhook.ErrTimestampOutOfTolerance),
		bad("wrong secret", webhook.SignStripe(gitHub, now, body), webhook.ErrSignatureMismatch),
		bad("timestamp not signed", "t="+strconv.FormatInt(now.Unix()+1, 10)+","+sig(now), webhook.ErrSignatureMismatch),
		bad("no t", sig(now), webhook.ErrTimestampMalformed),
		bad("t twice", "t="+ts+",t="+ts+","+sig(now), webhook.ErrTimestampMalformed),
		bad("t not a number", "t=now,"+sig(now), webhook.ErrTimestampMalformed),
		bad("no v1", "t="+ts, webhook.ErrSignatureMalformed),
		bad("bad hex", "t="+ts+",v1=xyz", webhook.ErrSignatureMalformed),
		bad("no key=value", "t="+ts+",junk", webhook.ErrSignatureMalformed),
	})
}

func TestVerifyConfiguredTolerance(t *testing.T) {
	t.Parallel()
	v, err := webhook.NewVerifier(webhook.Config{
		Secrets:   map[string][]string{webhook.SchemeLLM: {llmService}, webhook.SchemeStripe: {stripe}},
		Tolerance: 30 * time.Second,
		Now:       func() time.Time { return now },
	})
	require.NoError(t, err)
	for offset, want := range map[time.Duration]error{-30 * time.Second: nil, 30 * time.Second: nil, -31 * time.Second: webhook.ErrTimestampOutOfTolerance, 31 * time.Second: webhook.ErrTimestampOutOfTolerance} {
		_, err := v.Verify(headers(webhook.HeaderStripeSignature, webhook.SignStripe(stripe, now.Add(offset), body)), body)
		if want == nil {
			require.NoError(t, err, offset)
		} else {
			require.ErrorIs(t, err, want, offset)
		}
	}
}

func TestVerifySeveralSchemes(t *testing.T) {
	t.Parallel()
	llmGood := webhook.SignLLM(llmService, body)
	llmBad := webhook.SignLLM("guess", body)
	ghGood := webhook.SignGitHub(gitHub, body)
	runVerifyCases(t, newVerifier(t, false), []verifyCase{
		{name: "bad LLM, good GitHub", header: headers(webhook.HeaderLLMSignature, llmBad, webhook.HeaderGitHubSignature, ghGood), scheme: webhook.SchemeGitHub, keyName: "gh"},
		{name: "good LLM, malformed GitHub", header: headers(webhook.HeaderLLMSignature, llmGood, webhook.HeaderGitHubSignature, "x"), scheme: webhook.SchemeLLM, keyName: "service"},
		{name: "both bad: first scheme's reason", header: headers(webhook.HeaderLLMSignature, llmBad, webhook.HeaderGitHubSignature, "x"), err: webhook.ErrSignatureMismatch},
	})

	// A header of a scheme that is not enabled is not checked.
	v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {llmService}}})
	require.NoError(t, err)
	_, err = v.Verify(headers(webhook.HeaderGitHubSignature, ghGood), body)
	require.ErrorIs(t, err, webhook.ErrSignatureMissing)
}

func TestVerifyAllowUnsigned(t *testing.T) {
	t.Parallel()
	runVerifyCases(t, newVerifier(t, true), []verifyCase{
		{name: "valid signature still verifies", header: headers(webhook.HeaderLLMSignature, webhook.SignLLM(llmService, body)), scheme: webhook.SchemeLLM, keyName: "service"},
		{name: "bad signature never degrades", header: headers(webhook.HeaderLLMSignature, webhook.SignLLM("guess", body)), err: webhook.ErrSignatureMismatch},
		{name: "malformed signature never degrades", header: headers(webhook.HeaderLLMSignature, "sha256="), err: webhook.ErrSignatureMalformed},
		{name: "stale signature never degrades", header: headers(webhook.HeaderStripeSignature, webhook.SignStripe(stripe, now.Add(-time.Hour), body)), err: webhook.ErrTimestampOutOfTolerance},
	})

	res, err := newVerifier(t, true).Verify(headers("X-Webhook-Event", "workflow.completed"), body)
	require.NoError(t, err)
	require.Equal(t, webhook.Result{Valid: false, Scheme: webhook.SchemeUnsigned}, res)

	// A signature of a scheme that is not enabled cannot be checked, so it
	// is not accepted as unsigned either.
	v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {llmService}}, AllowUnsigned: true})
	require.NoError(t, err)
	_, err = v.Verify(headers(webhook.HeaderGitHubSignature, webhook.SignGitHub(gitHub, body)), body)
	require.ErrorIs(t, err, webhook.ErrSignatureMissing)

	_, err = newVerifier(t, false).Verify(headers(), body)
	require.ErrorIs(t, err, webhook.ErrSignatureMissing)
}

func TestNewVerifierReportsAllProblems(t *testing.T) {
	t.Parallel()
	_, err := webhook.NewVerifier(webhook.Config{
		Secrets: map[string][]string{
			"hmac":                 {"x"},
			webhook.SchemeGitHub:   {},
			webhook.SchemeStripe:   {"a=s3cr3t-one", "a=s3cr3t-two", "b=  "},
			webhook.SchemeStandard: {"whsec_!!!", "plain-s3cr3t"},
		},
		Tolerance: -time.Second,
	})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"tolerance -1s",
		"scheme llm-hmac-sha256: no secret configured",
		`unknown scheme "hmac"`,
		"scheme github: enabled with no secret",
		`scheme stripe: duplicate secret name "a"`,
		`scheme stripe: secret "b" is empty`,
		`scheme standard-webhooks: secret "secret-1": want "whsec_"`,
		`scheme standard-webhooks: secret "secret-2": want "whsec_"`,
	} {
		require.Contains(t, msg, want)
	}
	require.Len(t, strings.Split(msg, "\n"), 8)
	require.NotContains(t, msg, "s3cr3t")
}

func TestSecretNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		entry, signWith, name string
	}{
		{"main=abc", "abc", "main"},
		{"job.42_a-b=abc", "abc", "job.42_a-b"},
		{"abc", "abc", "secret-1"},
		{"main=abc==", "abc==", "main"},
		{"a+b=c", "a+b=c", "secret-1"}, // '+' is not a name character: bare secret
		{"main= abc \n", "abc", "main"},
		{"whsec_abc=", "whsec_abc=", "secret-1"}, // Stripe-style whsec_ secrets are bare
	} {
		v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {tc.entry}}})
		require.NoError(t, err, tc.entry)
		res, err := v.Verify(headers(webhook.HeaderLLMSignature, webhook.SignLLM(tc.signWith, body)), body)
		require.NoError(t, err, tc.entry)
		require.Equal(t, tc.name, res.KeyName, tc.entry)
	}
}

// TestLLMServiceSignature checks a delivery built exactly as the LLM service
// builds it. The body and the signature were produced by Python:
//
//	body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
//	hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
func TestLLMServiceSignature(t *testing.T) {
	t.Parallel()
	payload := map[string]any{
		"event":         "workflow.completed",
		"job_id":        "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
		"status":        "completed",
		"workflow_name": "résumé <screening> & co/v2",
		"result":        map[string]any{"summary": "Done 😀", "score": 7},
		"cost_data":     map[string]any{"total_tokens": 1234, "cost_usd": 0.0123, "llm_calls": []any{}},
		"duration_ms":   4567,
		"timestamp":     "2025-12-20T10:30:00.123456+00:00Z",
	}
	const (
		wantBody = `{"cost_data":{"cost_usd":0.0123,"llm_calls":[],"total_tokens":1234},"duration_ms":4567,"event":"workflow.completed","job_id":"3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f","result":{"score":7,"summary":"Done \ud83d\ude00"},"status":"completed","timestamp":"2025-12-20T10:30:00.123456+00:00Z","workflow_name":"r\u00e9sum\u00e9 <screening> & co/v2"}`
		wantSig  = "sha256=c93419561b5d42aeb58de78168bbccaaf5c9e70c9cf0b5579d1755f8858b575b"
	)
	b, err := webhook.PythonJSON(payload)
	require.NoError(t, err)
	require.Equal(t, wantBody, string(b))
	require.Equal(t, wantSig, webhook.SignLLM(webhook.DevelopmentLLMSecret, b))

	v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {webhook.DevelopmentLLMSecret}}})
	require.NoError(t, err)
	h := headers("Content-Type", "application/json", webhook.HeaderLLMSignature, wantSig, "X-Webhook-Event", "workflow.completed")
	res, err := v.Verify(h, b)
	require.NoError(t, err)
	require.Equal(t, webhook.Result{Valid: true, Scheme: webhook.SchemeLLM, KeyName: "secret-1"}, res)

	// A proxy that re-serialises the body (here: indents it) breaks the
	// signature, with a reason that says so.
	var indented bytes.Buffer
	require.NoError(t, json.Indent(&indented, b, "", "  "))
	_, err = v.Verify(h, indented.Bytes())
	require.ErrorIs(t, err, webhook.ErrSignatureMismatch)
	require.Equal(t, apierror.SignatureMismatch, apierror.Of(err))
	require.Equal(t, "llm-hmac-sha256: signature does not match the body under any configured secret", err.Error())
	require.NotContains(t, err.Error(), wantSig[7:])
}

// TestSignVectors checks the helpers against signatures computed by Python's
// hmac module.
func TestSignVectors(t *testing.T) {
	t.Parallel()
	b := []byte(`{"cost_data":{"cost_usd":0.0123,"llm_calls":[],"total_tokens":1234},"duration_ms":4567,"event":"workflow.completed","job_id":"3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f","result":{"score":7,"summary":"Done \ud83d\ude00"},"status":"completed","timestamp":"2025-12-20T10:30:00.123456+00:00Z","workflow_name":"r\u00e9sum\u00e9 <screening> & co/v2"}`)
	require.Equal(t, "sha256=c2fa475afca374ebf949770a7f0c920010b7efcea2ee32c71c376049d92127aa", webhook.SignGitHub("gh-secret", b))
	require.Equal(t, "t=1700000000,v1=0c07f6481fdfa2c1677bd24cd6d9996e1c5b2a3afa7228d62d4e0acde542687f", webhook.SignStripe("stripe-secret", time.Unix(1700000000, 0), b))
	_, err := webhook.SignStandard("not-whsec", "id", now, b)
	require.Error(t, err)
}
