package webhook

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The signing helpers produce the header values a sender puts on a delivery.
// They trim the secret as Config.Secrets does, so that a helper and a
// Verifier given the same secret agree.

// SignLLM returns the X-Webhook-Signature value the LLM service sends with
// body: "sha256=" and the lowercase hex HMAC-SHA256 of body.
func SignLLM(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac([]byte(strings.TrimSpace(secret)), body))
}

// SignGitHub returns the X-Hub-Signature-256 value GitHub sends with body.
func SignGitHub(secret string, body []byte) string {
	return SignLLM(secret, body)
}

// SignStandard returns the webhook-signature value ("v1,<base64>") of a
// Standard Webhooks delivery whose webhook-id is id and whose
// webhook-timestamp is ts.Unix(). The secret is "whsec_" and base64.
func SignStandard(secret, id string, ts time.Time, body []byte) (string, error) {
	k, err := StandardKey(strings.TrimSpace(secret))
	if err != nil {
		return "", err
	}
	prefix := id + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	return "v1," + base64.StdEncoding.EncodeToString(mac(k, []byte(prefix), body)), nil
}

// SignStripe returns the Stripe-Signature value ("t=<unix>,v1=<hex>") of a
// delivery sent at t.
func SignStripe(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	sig := mac([]byte(strings.TrimSpace(secret)), []byte(ts+"."), body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(sig)
}

// SignLLMBody signs body in the LLM service's scheme with the first
// configured LLM secret and returns the X-Webhook-Signature value and that
// secret's name. The server uses it to send itself test callbacks without
// the secret ever leaving this package.
func (v *Verifier) SignLLMBody(body []byte) (signature, keyName string) {
	k := v.keys[SchemeLLM][0]
	return "sha256=" + hex.EncodeToString(mac(k.secret, body)), k.name
}
