package webhook_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/callbackd/callbackd/internal/webhook"
)

// BenchmarkVerifyForged is what a forged delivery costs now that the
// failure limit is decided after the signature: a mismatch tries every
// configured LLM secret (two here) over the whole body.
func BenchmarkVerifyForged(b *testing.B) {
	v := newVerifier(b, false)
	for _, size := range []int{2 << 10, 64 << 10, 1 << 20} {
		payload := bytes.Repeat([]byte("x"), size)
		h := headers(webhook.HeaderLLMSignature, webhook.SignLLM("guess", payload))
		b.Run(fmt.Sprintf("body=%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := v.Verify(h, payload); err == nil {
					b.Fatal("a forged signature verified")
				}
			}
		})
	}
}
