package attempt

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// sealWait bounds how long the end of an attempt waits for the hub to
// store its seal and read it back: in a run whose tasks flood the hub,
// the seal waits behind what the hub has still to read.
const sealWait = time.Minute

// seal ends the record of an attempt (of a task or a hook) that
// reported in hub slot, once its pack's call ended with res and
// reason: it revokes the attempt's credentials and seals its slot (see
// Hub.Seal), which closes the steps still open (as Errored "step never
// ended" when the call returned, or why its events were lost on the way:
// see lostEvents; else with res and reason), then hands
// the tree to take, under the hub's lock, and returns the attempt's
// result. A task that returned gets its tree's result rolled up into its
// own; one whose messages the hub refused is Errored with what was
// refused (or, over a limit, with that limit).
func (r *Runner) seal(slot int, res result.Result, reason string, returned bool, lastSeq uint64, since time.Time,
	tlog hclog.Logger, take func(*report.Tree)) (result.Result, string) {
	closeRes, closeReason, at := res, reason, time.Now()
	var lost string
	if returned {
		closeRes, closeReason = result.Errored, "step never ended"
		storeErr := r.Hub.StoreTrouble(since)
		_ = r.Hub.Tree(slot, func(tree *report.Tree) { lost = r.lostEvents(tree, lastSeq, storeErr) })
		if lost != "" {
			closeReason = lost
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), sealWait)
	if err := r.Hub.Seal(ctx, slot, closeRes, closeReason, at); err != nil {
		r.log().Warn("record not sealed in the stream; `results recover` may take more of the task than results.json", "error", err)
	}
	cancel()
	_ = r.Hub.Tree(slot, func(tree *report.Tree) {
		if tree.Missing > 0 && !returned {
			tlog.Warn("events lost with the process", "missing", tree.Missing)
		}
		if returned {
			if lost != "" {
				res = result.Rollup(res, result.Errored)
				reason = strings.TrimSuffix(lost+"; "+reason, "; ")
			}
			res = result.Rollup(res, tree.Result())
			if reason == "" {
				reason = worstReason(tree, res)
			}
		}
		if fault := tree.Fault(); fault != "" {
			tlog.Error("the host refused what the task sent", "refused", tree.Refused, "reason", fault)
			switch {
			case tree.Over != "":
				res, reason = result.Errored, fault // what stopped it
			case res >= result.Errored && reason != "":
				reason += "; " + fault // it had ended so for a cause of its own
			default:
				res, reason = result.Errored, fault
			}
		}
		if take != nil {
			take(tree)
		}
	})
	return res, reason
}

// checkOutputs keeps the outputs a pack returned that are JSON, and says
// which ones it refused.
func checkOutputs(outputs map[string][]byte) (map[string][]byte, string) {
	var bad []string
	for name, v := range outputs {
		if !json.Valid(v) {
			bad = append(bad, name)
			delete(outputs, name)
		}
	}
	if len(bad) == 0 {
		return outputs, ""
	}
	slices.Sort(bad)
	return outputs, fmt.Sprintf("refused outputs that are not JSON: %q", bad)
}

// lostEvents says whether a pack whose Run returned (a task attempt or a
// hook call started at since, its last event lastSeq) lost events on the
// way: "" when not, and its steps still open are "step never ended";
// else why, which is then their reason and the start of the attempt's:
// the tree lacks the pack's end (its last event) and events it sent did
// not arrive, or the store failed meanwhile (storeErr, from
// hub.StoreTrouble(since)).
func (r *Runner) lostEvents(tree *report.Tree, lastSeq uint64, storeErr error) string {
	if tree.Ended || (tree.Applied("") >= lastSeq && storeErr == nil) {
		return ""
	}
	lost := "its result events were not all recorded"
	if storeErr != nil {
		lost += ": " + strings.ReplaceAll(storeErr.Error(), r.RunDir+string(filepath.Separator), "")
	}
	return lost
}

// worstReason finds the reason to show for a task whose result is r: the
// deepest section or step with that result and a reason, in the first
// top-level section that has one (the sections the tree let go of
// included).
func worstReason(tree *report.Tree, r result.Result) string {
	if tree.Own.Value == r && tree.Own.Reason != "" {
		return tree.Own.Reason
	}
	return tree.Reason(r)
}
