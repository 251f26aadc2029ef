package callbackclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// Connect to the server named by CALLBACKCTL_SERVER with the admin token in
// CALLBACKCTL_TOKEN, have it send itself a test callback, and list the
// callbacks of that job.
func Example() {
	ctx := context.Background()
	client, err := callbackclient.New(os.Getenv("CALLBACKCTL_SERVER"), callbackclient.Options{
		Token: os.Getenv("CALLBACKCTL_TOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	sent, err := client.SendTestCallback(ctx, "workflow.completed")
	if err != nil {
		log.Fatal(err)
	}
	page, err := client.List(ctx, &callbacksv1.ListCallbacksRequest{ExternalJobId: sent.GetExternalJobId()})
	if err != nil {
		log.Fatal(err)
	}
	for _, cb := range page.GetCallbacks() {
		fmt.Println(cb.GetEventType(), cb.GetWorkflowName(), cb.GetStatus(), cb.GetDeliveryCount())
	}
	// Output: workflow.completed summarise-document CALLBACK_STATUS_PROCESSED 1
}

// Get returns a callback's exact body; MarkViewed records that you saw it.
func ExampleClient_Get() {
	ctx := context.Background()
	client, err := callbackclient.New(os.Getenv("CALLBACKCTL_SERVER"), callbackclient.Options{
		Protocol: callbackclient.ProtocolConnect,
		Token:    os.Getenv("CALLBACKCTL_TOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	sent, err := client.SendTestCallback(ctx, "workflow.failed")
	if err != nil {
		log.Fatal(err)
	}
	cb, err := client.Get(ctx, sent.GetId())
	if err != nil {
		log.Fatal(err)
	}
	var body struct {
		Event        string `json:"event"`
		ErrorMessage string `json:"error_message"`
	}
	if err := json.Unmarshal(cb.GetPayload(), &body); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s\n", body.Event, body.ErrorMessage)

	if _, err := client.MarkViewed(ctx, cb.GetId()); err != nil {
		log.Fatal(err)
	}
	cb, err = client.Get(ctx, sent.GetId())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("viewed by me:", cb.GetViewedByMe())
	// Output:
	// workflow.failed: LLM provider timed out after 3 attempts
	// viewed by me: true
}

// Watch hands over events from a cursor, reconnecting as needed, until the
// handler returns an error.
func ExampleClient_Watch() {
	ctx := context.Background()
	client, err := callbackclient.New(os.Getenv("CALLBACKCTL_SERVER"), callbackclient.Options{
		Token: os.Getenv("CALLBACKCTL_TOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// Take the current position, so that the watch replays what follows.
	now, err := client.Check(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	sent, err := client.SendTestCallback(ctx, "llm.step.completed")
	if err != nil {
		log.Fatal(err)
	}

	errDone := errors.New("done")
	err = client.Watch(ctx, callbackclient.WatchOptions{Cursor: now.GetNextCursor()}, func(ev *callbacksv1.CallbackEvent) error {
		if cb := ev.GetReceived(); cb.GetExternalJobId() == sent.GetExternalJobId() {
			fmt.Println("received", cb.GetEventType(), "step", cb.GetStepId())
			return errDone
		}
		return nil // someone else's event
	})
	fmt.Println(err)
	// Output:
	// received llm.step.completed step extract
	// done
}
