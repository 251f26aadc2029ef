package server

import (
	"sync"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/callback"
)

// eventCacheSize bounds the stream messages kept for sharing.
const eventCacheSize = 4096

// eventCache shares one stream message per change-feed entry among all
// watchers: with thousands of watchers, converting the same change into a
// fresh message for each of them was a large part of the cost of a
// delivery. The messages are never modified after they are built, and
// protobuf messages may be marshalled concurrently.
type eventCache struct {
	messages sync.Map // seq → *callbacksv1.WatchCallbacksResponse

	mu    sync.Mutex
	order [eventCacheSize]int64 // seqs in insertion order, for eviction
	next  int
}

// message returns the stream message of c, building it on first use.
func (e *eventCache) message(c callback.Change) *callbacksv1.WatchCallbacksResponse {
	if m, ok := e.messages.Load(c.Seq); ok {
		return m.(*callbacksv1.WatchCallbacksResponse)
	}
	m := &callbacksv1.WatchCallbacksResponse{Message: &callbacksv1.WatchCallbacksResponse_Event{Event: changeToProto(c)}}
	if actual, loaded := e.messages.LoadOrStore(c.Seq, m); loaded {
		return actual.(*callbacksv1.WatchCallbacksResponse)
	}
	e.mu.Lock()
	if old := e.order[e.next]; old != 0 {
		e.messages.Delete(old)
	}
	e.order[e.next] = c.Seq
	e.next = (e.next + 1) % eventCacheSize
	e.mu.Unlock()
	return m
}
