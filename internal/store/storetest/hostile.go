package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

// incompressible returns n bytes of random base64 text: what a B-tree entry
// cannot hold once past about 2.7 KB, since it does not compress.
func incompressible(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)[:n]
}

// requireStorable checks that every text field of c follows the column rule.
func requireStorable(t *testing.T, c callback.Callback) {
	t.Helper()
	for name, v := range map[string]string{
		"key": c.Key, "event": c.EventType, "job": c.ExternalJobID, "workflow": c.WorkflowName,
		"step": c.StepID, "error": c.ErrorMessage, "preview": c.PayloadPreview, "agent": c.UserAgent,
		"scheme": c.Signature.Scheme, "key name": c.Signature.KeyName,
	} {
		require.True(t, utf8.ValidString(v), "%s %q", name, v)
		require.NotContains(t, v, "\x00", name)
	}
}

// testHostileText: text fields that PostgreSQL would refuse (U+0000, bytes
// that are not UTF-8) or that no index entry holds (3 KB of incompressible
// text) are stored by the column rule on both databases, beside ordinary
// deliveries of the same batch, and the payload stays exact.
func testHostileText(t *testing.T, s callback.Store) {
	big := incompressible(3000)
	nul := delivery("nul", 0)
	nul.EventType, nul.ExternalJobID, nul.WorkflowName, nul.StepID, nul.ErrorMessage = "e\x00", "j\x00", "w\x00", "s\x00", "model said \x00"
	nul.UserAgent, nul.PayloadPreview = "agent\x00", "{\x00"
	nul.Payload = []byte("{\"a\":\"\\u0000\"}\x00")
	long := delivery("long", time.Second)
	long.WorkflowName, long.ExternalJobID, long.EventType, long.StepID, long.ErrorMessage, long.UserAgent = big, big, big, big, big+big+big, big
	bad := delivery("bad", 2*time.Second)
	bad.WorkflowName, bad.ErrorMessage, bad.UserAgent, bad.ExternalJobID = "w\xff\xfe", "\xc3(", "ua\x80", "j\xed\xa0\x80"
	bad.Signature.KeyName, bad.Signature.Scheme = "k\xff", "s\x00"
	bad.Payload = []byte("\xff\xfe not even JSON")

	batch := []callback.Delivery{delivery("ok-1", 0), nul, long, bad, delivery("ok-2", 0)}
	res := save(t, s, batch...)
	for i, d := range batch {
		c := get(t, s, res[i].ID)
		want := d.Storable()
		require.Equal(t, d.Key, c.Key)
		require.Equal(t, want.EventType, c.EventType, d.Key)
		require.Equal(t, want.ExternalJobID, c.ExternalJobID, d.Key)
		require.Equal(t, want.WorkflowName, c.WorkflowName, d.Key)
		require.Equal(t, want.StepID, c.StepID, d.Key)
		require.Equal(t, want.ErrorMessage, c.ErrorMessage, d.Key)
		require.Equal(t, want.UserAgent, c.UserAgent, d.Key)
		require.Equal(t, want.PayloadPreview, c.PayloadPreview, d.Key)
		require.Equal(t, want.Signature.Scheme, c.Signature.Scheme, d.Key)
		require.Equal(t, want.Signature.KeyName, c.Signature.KeyName, d.Key)
		require.Equal(t, d.Payload, c.Payload, "%s: the payload stays exact", d.Key)
		requireStorable(t, c)
	}
	c := get(t, s, res[1].ID)
	require.Equal(t, "w\uFFFD", c.WorkflowName)
	require.Equal(t, "model said \uFFFD", c.ErrorMessage)
	c = get(t, s, res[2].ID)
	require.Equal(t, big[:callback.MaxWorkflowNameBytes], c.WorkflowName)
	require.Len(t, c.ErrorMessage, callback.MaxErrorMessageBytes)
	c = get(t, s, res[3].ID)
	require.Equal(t, "w\uFFFD", c.WorkflowName)
	require.Equal(t, "j\uFFFD", c.ExternalJobID)
	require.Equal(t, "ua\uFFFD", c.UserAgent)

	// Lists and the feed read the same rows.
	require.Len(t, list(t, s, callback.ListQuery{}).Callbacks, len(batch))
	changes, err := s.Changes(context.Background(), 0, 100)
	require.NoError(t, err)
	require.Len(t, changes, len(batch))
	for _, ch := range changes {
		requireStorable(t, *ch.Callback)
	}

	// An admin name from a credential follows the rule too.
	_, _, err = s.MarkViewed(context.Background(), res[0].ID, uuid.New(), "Ev\x00e\xff", base)
	require.NoError(t, err)
	require.Equal(t, "Ev\uFFFDe\uFFFD", get(t, s, res[0].ID).Views[0].AdminName)
}

// testInvalidKeys: a key that is empty, not UTF-8, holds U+0000 or is
// longer than callback.MaxKeyBytes fails its batch on both databases alike
// (ParsePayload never makes one), and the batch stores nothing.
func testInvalidKeys(t *testing.T, s callback.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "k\x00", "k\xff", incompressible(callback.MaxKeyBytes + 1)} {
		_, err := s.Save(ctx, []callback.Delivery{delivery("fine", 0), delivery(key, 0)})
		require.Error(t, err, "key %.32q", key)
	}
	require.Empty(t, list(t, s, callback.ListQuery{}).Callbacks)
	// The longest key ParsePayload makes is stored, incompressible or not.
	long := incompressible(callback.MaxKeyBytes)
	res := save(t, s, delivery(long, 0))
	require.Equal(t, long, get(t, s, res[0].ID).Key)
}

// testHostileFilters: filters holding U+0000, bad bytes or over-long values
// match what the column rule stored for them, and extreme times and page
// positions are answered, not refused by the database.
func testHostileFilters(t *testing.T, s callback.Store) {
	big := incompressible(3000)
	d := delivery("hostile", 0)
	d.ExternalJobID, d.WorkflowName, d.EventType = "job\x00", big, "ev\x00nt"
	bad := delivery("bad", time.Second)
	bad.WorkflowName = "w\xff"
	save(t, s, delivery("plain", 0), d, bad)
	for name, q := range map[string]callback.ListQuery{
		"job with NUL":        {ExternalJobID: "job\x00"},
		"job as stored":       {ExternalJobID: "job\uFFFD"},
		"event with NUL":      {EventType: "ev\x00nt"},
		"over-long workflow":  {WorkflowName: big},
		"over-long job, NULs": {ExternalJobID: "job\x00", WorkflowName: big + big},
	} {
		require.Equal(t, []string{"hostile"}, keys(list(t, s, q).Callbacks), name)
	}
	require.Equal(t, []string{"bad"}, keys(list(t, s, callback.ListQuery{WorkflowName: "w\xff"}).Callbacks))
	require.Empty(t, list(t, s, callback.ListQuery{ExternalJobID: big}).Callbacks)

	far := time.UnixMicro(math.MaxInt64)
	early := time.UnixMicro(math.MinInt64)
	for name, q := range map[string]callback.ListQuery{
		"created after the dawn of time":  {CreatedAfter: early},
		"created before the end of time":  {CreatedBefore: far},
		"page after the end of time":      {After: &callback.PageToken{CreatedAt: far, ID: uuid.Max}},
		"created after year 0":            {CreatedAfter: time.Time{}.Add(time.Nanosecond)},
		"page after the dawn, nothing":    {After: &callback.PageToken{CreatedAt: early}},
		"created after the end, nothing":  {CreatedAfter: far},
		"created before the dawn, nothin": {CreatedBefore: early},
	} {
		p, err := s.List(context.Background(), q)
		require.NoError(t, err, name)
		if strings.HasSuffix(name, "nothing") || strings.HasSuffix(name, "nothin") {
			require.Empty(t, p.Callbacks, name)
		} else {
			require.Len(t, p.Callbacks, 3, name)
		}
	}
}

// testReplayChangesOnlyTheCount: a delivery whose body is the stored one
// (a replay of a captured delivery) changes only the delivery count, the
// delivery time and the feed position; a different body updates everything.
func testReplayChangesOnlyTheCount(t *testing.T, s callback.Store) {
	first := delivery("k", 0)
	res := save(t, s, first)[0]
	before := get(t, s, res.ID)

	replay := delivery("k", time.Minute)
	replay.UserAgent = "curl/8.0"
	replay.Signature = callback.Signature{Valid: false, Scheme: "unsigned", KeyName: "", VerifiedAt: base.Add(time.Minute)}
	again := save(t, s, replay)[0]
	require.True(t, again.Duplicate)
	require.Equal(t, 2, again.DeliveryCount)
	require.Greater(t, again.Seq, res.Seq, "a replay still moves the row in the feed")
	after := get(t, s, res.ID)
	require.Equal(t, 2, after.DeliveryCount)
	require.Equal(t, base.Add(time.Minute), after.LastDeliveryAt)
	require.Equal(t, again.Seq, after.Seq)
	require.Equal(t, "llm-service/1.0", after.UserAgent, "a replay keeps the user agent")
	require.Equal(t, before.Signature, after.Signature, "a replay keeps how and when the row was verified")
	require.Equal(t, before.Payload, after.Payload)

	// A replay merged into a batch with a later, different body: the
	// different body wins whole.
	changed := delivery("k", 2*time.Minute)
	changed.Payload = []byte(`{"event":"workflow.completed","job_id":"k","retry":2}`)
	changed.UserAgent, changed.Status, changed.WorkflowName = "llm-service/2.0", callback.StatusError, "translate"
	changed.Signature = callback.Signature{Valid: true, Scheme: "standard-webhooks", KeyName: "rotated", VerifiedAt: base.Add(2 * time.Minute)}
	save(t, s, delivery("k", 90*time.Second), changed)
	c := get(t, s, res.ID)
	require.Equal(t, 4, c.DeliveryCount)
	require.Equal(t, changed.Payload, c.Payload)
	require.Equal(t, "llm-service/2.0", c.UserAgent)
	require.Equal(t, callback.StatusError, c.Status)
	require.Equal(t, "translate", c.WorkflowName)
	require.Equal(t, changed.Signature, c.Signature)
	require.Equal(t, base.Add(2*time.Minute), c.LastDeliveryAt)
}

// OddRow is a row that Save would never write, for tests of the read path:
// on SQLite its text holds bytes that are not UTF-8 and U+0000; PostgreSQL
// refuses those in any UTF8 database, so there it holds what PostgreSQL
// accepts past the column rule: control and non-characters, and text far
// beyond the column limits. Each field differs from the column rule's
// output, so a test sees whether a reader applied it.
func OddRow(dialect string, createdAt time.Time) callback.Callback {
	if dialect == "postgres" {
		return callback.Callback{
			Key: "odd\u202e:\x01", EventType: "workflow.completed\x7f", Status: callback.StatusProcessed,
			ExternalJobID: "job\uffff", WorkflowName: strings.Repeat("w", 100_000), StepID: "s\x1b[31m",
			ErrorMessage: strings.Repeat("e", 100_000), PayloadPreview: "{\ufffe", UserAgent: strings.Repeat("u", 10_000),
			Payload:   []byte("{\xff\x00}"),
			Signature: callback.Signature{Valid: true, Scheme: "llm-hmac-sha256", KeyName: "main"},
			CreatedAt: createdAt,
		}
	}
	return callback.Callback{
		Key: "odd\xff", EventType: "workflow.completed\xfe", Status: callback.StatusProcessed,
		ExternalJobID: "job\xc3", WorkflowName: "w\xff\xfe", StepID: "s\x00", ErrorMessage: "e\xed\xa0\x80",
		PayloadPreview: "{\xff", UserAgent: "Mozilla\xff/5.0",
		Payload:   []byte("{\xff\x00}"),
		Signature: callback.Signature{Valid: true, Scheme: "llm-hmac-sha256\xff", KeyName: "main\x00"},
		CreatedAt: createdAt,
	}
}

// testStoredBadBytesAreRead: a row written past Save (OddRow) is still
// read by Get, List and Changes, its text valid UTF-8 with U+FFFD in place
// of bad bytes; and PostgreSQL refuses bytes that are not UTF-8, so no row
// there can hold them.
func testStoredBadBytesAreRead(t *testing.T, s callback.Store) {
	ss, ok := s.(SQLStore)
	if !ok {
		t.Skip("the store exposes no SQL database")
	}
	if ss.Dialect() == "postgres" {
		_, _, err := InsertRaw(t, ss, callback.Callback{Key: "bad", Status: callback.StatusReceived, UserAgent: "ua\xff"})
		require.NotNil(t, pq.As(err, "22021"), "PostgreSQL refuses bytes that are not UTF-8: %v", err)
		_, _, err = InsertRaw(t, ss, callback.Callback{Key: "nul", Status: callback.StatusReceived, UserAgent: "ua\x00"})
		require.NotNil(t, pq.As(err, "22021"), "PostgreSQL refuses U+0000: %v", err)
	}
	raw := OddRow(ss.Dialect(), base)
	id, seq, err := InsertRaw(t, ss, raw)
	require.NoError(t, err)
	save(t, s, delivery("beside", time.Second))

	c := get(t, s, id)
	requireStorable(t, c)
	require.Equal(t, callback.StorableText(raw.UserAgent, 0), c.UserAgent)
	require.Equal(t, callback.StorableText(raw.WorkflowName, 0), c.WorkflowName)
	require.Equal(t, callback.StorableText(raw.Key, 0), c.Key)
	require.Equal(t, callback.StorableText(raw.StepID, 0), c.StepID)
	require.Equal(t, callback.StorableText(raw.Signature.KeyName, 0), c.Signature.KeyName)
	require.Equal(t, raw.Payload, c.Payload, "the payload is bytes, read as stored")
	p := list(t, s, callback.ListQuery{})
	require.Equal(t, []string{"beside", c.Key}, keys(p.Callbacks))
	for _, c := range p.Callbacks {
		requireStorable(t, c)
	}
	changes, err := s.Changes(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, changes, 2)
	require.Equal(t, seq, changes[0].Seq)
	require.Equal(t, c.UserAgent, changes[0].Callback.UserAgent)
}
