// Command notify is a first-party taskhost pack of hooks. Its webhook
// hook posts the run's summary as JSON to a URL when the job ends:
//
//	pack "notify" { path = "bin/notify" }
//
//	hook "chat" {
//	  pack = "notify"
//	  hook = "webhook"
//	  args = { url = "https://chat.example.com/hooks/T0123" }
//	}
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/taskhost/taskhost/sdk"
)

// WebhookArgs are the webhook hook's arguments.
type WebhookArgs struct {
	URL     string            `arg:"url,required" doc:"where to POST the run's summary"`
	Headers map[string]string `doc:"extra HTTP headers, e.g. an Authorization token"`
	Timeout time.Duration     `doc:"how long to wait for the server (default 30s)"`
	OnlyIf  string            `arg:"only_if" doc:"\"failed\" posts only when some task did not pass; empty always posts"`
}

func main() {
	s := sdk.NewSet("notify", "0.1.0")
	sdk.RegisterHook(s, "webhook", "Posts the run's summary as JSON to a webhook URL when the job ends.",
		[]sdk.Stage{sdk.PostJob}, Webhook)
	s.Run()
}

// Webhook posts h.Results as JSON to args.URL. A server that does not
// answer 2xx fails the hook.
func Webhook(t *sdk.T, h *sdk.Hook, args WebhookArgs) {
	sum := h.Results
	if args.OnlyIf == "failed" && sum.Summary.Total == sum.Summary.Passed+sum.Summary.Passx+sum.Summary.Skipped {
		t.Skip("every task passed and only_if is \"failed\"")
	}
	if args.OnlyIf != "" && args.OnlyIf != "failed" {
		t.Errorf("only_if must be \"failed\" or empty, not %q", args.OnlyIf)
	}
	body, err := json.Marshal(sum)
	if err != nil {
		t.Errorf("encode the summary: %v", err)
	}
	timeout := args.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	t.Step("POST "+args.URL, func(t *sdk.T) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, args.URL, bytes.NewReader(body))
		if err != nil {
			t.Errorf("%v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "taskhost-notify/0.1.0")
		for k, v := range args.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Failf("post the summary: %v", err)
		}
		defer resp.Body.Close()
		reply, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.SetData(map[string]any{"status": resp.StatusCode, "bytes_sent": len(body)})
		if resp.StatusCode/100 != 2 {
			t.Failf("the server answered %s: %s", resp.Status, bytes.TrimSpace(reply))
		}
		t.Logf("posted %d bytes: %s", len(body), resp.Status)
	})
}
