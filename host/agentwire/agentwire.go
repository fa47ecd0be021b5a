package agentwire

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/taskhost/taskhost/host/attempt"
)

// Version is the version of the messages this build speaks.
const Version = 1

// nameRE is what an agent's or a class's name may be: one NATS subject
// token, also good in a stream or consumer name.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CheckName says why name cannot be an agent's or a placement class's
// name, or nil if it can.
func CheckName(what, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q: use 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit", what, name)
	}
	return nil
}

// Names are the subjects, stream and consumers of one run, whose key is
// RunKey (the hub's, random per run).
type Names struct{ RunKey string }

// WorkStream is the run's work-queue stream.
func (n Names) WorkStream() string { return "TH_" + n.RunKey + "_WORK" }

// Work is the subject of the work of placement class class.
func (n Names) Work(class string) string { return "th." + n.RunKey + ".work." + class }

// WorkAll is the subject of all the run's work, the stream's.
func (n Names) WorkAll() string { return "th." + n.RunKey + ".work.>" }

// Consumer is the name of the durable pull consumer of class's work.
func Consumer(class string) string { return "c-" + class }

// Fetch is the subject on which an agent asks for class's next work
// message (JetStream's API).
func (n Names) Fetch(class string) string {
	return "$JS.API.CONSUMER.MSG.NEXT." + n.WorkStream() + "." + Consumer(class)
}

// Acks are the subjects on which work messages are acknowledged.
func (n Names) Acks() string { return "$JS.ACK." + n.WorkStream() + ".>" }

// Agent is the prefix of the subjects agent publishes on.
func (n Names) Agent(agent string) string { return "th." + n.RunKey + ".a." + agent + "." }

// Claim, Started and Done are the subjects of agent's requests to the
// host.
func (n Names) Claim(agent string) string   { return n.Agent(agent) + "claim" }
func (n Names) Started(agent string) string { return n.Agent(agent) + "started" }
func (n Names) Done(agent string) string    { return n.Agent(agent) + "done" }

// State is the subject on which agent's state bridge forwards its
// tasks' state requests to the host (host/statebridge).
func (n Names) State(agent string) string { return n.Agent(agent) + "state" }

// AnyAgent is the subject of kind (claim, started, done) from any agent:
// the host's subscription.
func (n Names) AnyAgent(kind string) string { return "th." + n.RunKey + ".a.*." + kind }

// AgentOf is the agent that published on subject (one of AnyAgent's).
func (n Names) AgentOf(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || parts[1] != n.RunKey || parts[2] != "a" {
		return ""
	}
	return parts[3]
}

// Control is the subject on which the host asks agent to act on the
// attempts it runs.
func (n Names) Control(agent string) string { return "th." + n.RunKey + ".ctl." + agent }

// HostHeartbeat is the subject of the host's heartbeat.
func (n Names) HostHeartbeat() string { return "th." + n.RunKey + ".host.hb" }

// Inbox is the prefix of agent's inboxes (its replies). It does not name
// the run: an agent connects before it knows which run it serves
// (Hello).
func (n Names) Inbox(agent string) string { return AgentInbox(agent) }

// AgentInbox is the prefix of agent's inboxes.
func AgentInbox(agent string) string { return "_th.a." + agent }

// LogStream is the run's stream of the log chunks agents ship.
func (n Names) LogStream() string { return "TH_" + n.RunKey + "_LOGS" }

// Log is the subject on which agent ships the log chunks of the attempt
// in hub slot slot.
func (n Names) Log(agent string, slot int) string {
	return n.Agent(agent) + "log." + strconv.Itoa(slot)
}

// LogAll is the subject of every agent's log chunks: the log stream's.
func (n Names) LogAll() string { return "th." + n.RunKey + ".a.*.log.>" }

// LogOf is the agent and slot of a log chunk's subject (one of Log's);
// ok is false for any other subject.
func (n Names) LogOf(subject string) (agent string, slot int, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 6 || parts[0] != "th" || parts[1] != n.RunKey || parts[2] != "a" || parts[4] != "log" {
		return "", 0, false
	}
	slot, err := strconv.Atoi(parts[5])
	if err != nil || slot < 0 || strconv.Itoa(slot) != parts[5] {
		return "", 0, false
	}
	return parts[3], slot, true
}

// A log chunk is a message on Log(agent, slot) whose data are the bytes
// of the file LogFileHeader names, from the offset LogOffsetHeader gives
// (decimal), published with the message id LogMsgID.
const (
	LogFileHeader   = "Th-Log-File"
	LogOffsetHeader = "Th-Log-Offset"
)

// LogMsgID is the message id of the chunk of n bytes at offset of file,
// of slot. It names the bytes, length included, so that a chunk sent
// again is dropped by the stream as a duplicate, while a longer chunk at
// the same offset (the file grew before it was sent again) is not.
func LogMsgID(slot int, file string, offset int64, n int) string {
	return strconv.Itoa(slot) + "." + file + "." + strconv.FormatInt(offset, 10) + "." + strconv.Itoa(n)
}

// HeartbeatSubject is the subject of agent's heartbeat.
func HeartbeatSubject(agent string) string { return "th.agents." + agent + ".hb" }

// AnyHeartbeat is the subject of every agent's heartbeat.
const AnyHeartbeat = "th.agents.*.hb"

// HelloSubject is the subject on which agent asks the hub it connected
// to which run it serves (Hello, answered by HelloReply).
func HelloSubject(agent string) string { return "th.agents." + agent + ".hello" }

// AnyHello is the subject of every agent's Hello.
const AnyHello = "th.agents.*.hello"

// Hello is an agent's first request on a hub: which run is this, and
// which of its work is mine?
type Hello struct {
	Version int `json:"v"`
	// Slots is how many packs the agent runs at once.
	Slots int `json:"slots"`
}

// HelloReply answers a Hello: the run's key, and the placement classes
// whose work the agent may take (those whose labels its own satisfy;
// none is fine: it waits for the next run). Error says why the hub will
// not have it.
type HelloReply struct {
	Version int      `json:"v"`
	RunKey  string   `json:"run_key,omitempty"`
	Classes []string `json:"classes,omitempty"`
	// HostBeat is how often the host sends its heartbeat.
	HostBeat time.Duration `json:"host_beat,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// connNamePrefix starts the connection name of an agent (ConnName).
const connNamePrefix = "taskhost-agent "

// ConnName is the NATS connection name an agent connects with: its name
// and labels, which the hub reads when it admits the agent (the labels
// decide which work it may fetch, before it says anything).
func ConnName(agent string, labels map[string]string) string {
	return connNamePrefix + agent + " " + FormatLabels(labels)
}

// ParseConnName reads a ConnName.
func ParseConnName(s string) (agent string, labels map[string]string, err error) {
	rest, ok := strings.CutPrefix(s, connNamePrefix)
	if !ok {
		return "", nil, fmt.Errorf("connection name %q is not an agent's", s)
	}
	agent, ls, _ := strings.Cut(rest, " ")
	if err := CheckName("agent", agent); err != nil {
		return "", nil, err
	}
	labels, err = ParseLabels(ls)
	if err != nil {
		return "", nil, err
	}
	return agent, labels, nil
}

// labelRE is what a label's key or value may be (as the jobfile's
// placement requires).
var labelRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// MaxLabels is the most labels an agent may carry.
const MaxLabels = 32

// ParseLabels reads labels written as "k=v,k2=v2" ("" is none).
func ParseLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	if s == "" {
		return labels, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !labelRE.MatchString(k) || !labelRE.MatchString(v) {
			return nil, fmt.Errorf("label %q: write KEY=VALUE, each of 1 to 63 of a-z, 0-9, '_', '.' and '-', starting with a letter or digit", kv)
		}
		if _, dup := labels[k]; dup {
			return nil, fmt.Errorf("label %q given twice", k)
		}
		labels[k] = v
	}
	if len(labels) > MaxLabels {
		return nil, fmt.Errorf("%d labels: at most %d", len(labels), MaxLabels)
	}
	return labels, nil
}

// FormatLabels writes labels as ParseLabels reads them, sorted by key.
func FormatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + labels[k])
	}
	return b.String()
}

// Satisfies says whether labels has every label of want, with its value.
func Satisfies(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Work is one attempt to run, published to its class's work subject with
// the message id "w" + ID. It holds no credentials: those come in Run,
// once the host granted the work to an agent.
type Work struct {
	Version int `json:"v"`
	// ID names the work in the run; claims and reports name it.
	ID string `json:"id"`
	// PackSHA256 is the hex SHA-256 the pack binary must have; "" if the
	// pack is not pinned.
	PackSHA256 string `json:"pack_sha256,omitempty"`
	// Call is the call to make, without its hub access (Call.Hub is zero).
	Call attempt.Call `json:"call"`
}

// Claim asks the host for the work ID. Grant answers it.
type Claim struct {
	Version int    `json:"v"`
	ID      string `json:"id"`
}

// Grant answers a Claim: OK if the work is the claimant's (it is the
// first to claim it, or claimed it before); else Reason says why not
// ("taken", "withdrawn").
type Grant struct {
	Version int    `json:"v"`
	OK      bool   `json:"ok"`
	Reason  string `json:"reason,omitempty"`
}

// Started says the agent started the work's pack (PID), or why it could
// not (Error). Output is what the pack wrote before it served.
type Started struct {
	Version int    `json:"v"`
	ID      string `json:"id"`
	PID     int    `json:"pid,omitempty"`
	Error   string `json:"error,omitempty"`
	Output  string `json:"output,omitempty"`
}

// Run tells the agent to make the call of the work ID, with the hub
// access the host made for it.
type Run struct {
	Version int          `json:"v"`
	ID      string       `json:"id"`
	Call    attempt.Call `json:"call"`
	// ShipLogs says the host takes the call's log files (host/logship):
	// the agent ships them on its log subject of Slot, the attempt's hub
	// slot.
	ShipLogs bool `json:"ship_logs,omitempty"`
	Slot     int  `json:"slot,omitempty"`
	// LogSizes are the sizes of the files already in the call's log
	// directory on the host (an earlier attempt's): the agent makes each
	// that long before the call, so that the pack's appends land at the
	// same offsets as on the host.
	LogSizes map[string]int64 `json:"log_sizes,omitempty"`
}

// Done is how the call of the work ID returned: Reply, or Error (and
// Cancelled if the pack saw it cancelled).
type Done struct {
	Version   int           `json:"v"`
	ID        string        `json:"id"`
	Reply     attempt.Reply `json:"reply"`
	Error     string        `json:"error,omitempty"`
	Cancelled bool          `json:"cancelled,omitempty"`
	// Logs are where each shipped log file is acknowledged up to by the
	// log stream, once the agent finished shipping (Run.ShipLogs).
	Logs map[string]int64 `json:"logs,omitempty"`
}

// Ops of a Control.
const (
	OpRun      = "run"      // make the call (Run)
	OpCancel   = "cancel"   // cancel the call
	OpWaitExit = "waitexit" // wait up to Wait for the pack to end
	OpKillNow  = "killnow"  // kill the pack, and answer at once
	OpKill     = "kill"     // kill the pack, and answer once it is gone
)

// Control is the host's request to an agent about the work ID.
type Control struct {
	Version int           `json:"v"`
	Op      string        `json:"op"`
	ID      string        `json:"id"`
	Run     *Run          `json:"run,omitempty"`
	Wait    time.Duration `json:"wait,omitempty"`
}

// Answer answers a Control (and the host's answers to Started and Done):
// Error if it could not be done; How and Exited for OpWaitExit.
type Answer struct {
	Version int    `json:"v"`
	Error   string `json:"error,omitempty"`
	How     string `json:"how,omitempty"`
	Exited  bool   `json:"exited,omitempty"`
}

// Heartbeat is an agent's, every heartbeat interval: its classes and
// slots, and the work it runs (Running), which keeps that work alive in
// the host's eyes.
type Heartbeat struct {
	Version int       `json:"v"`
	Agent   string    `json:"agent"`
	Classes []string  `json:"classes"`
	Slots   int       `json:"slots"`
	Free    int       `json:"free"`
	Running []string  `json:"running"`
	Time    time.Time `json:"time"`
}

// HostBeat is the host's heartbeat, by which agents know it is there.
type HostBeat struct {
	Version int       `json:"v"`
	Time    time.Time `json:"time"`
}

// Encode encodes a message.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the messages are plain structs that always encode
	}
	return b
}

// Decode decodes a message into v and checks its version (the "v"
// field).
func Decode(b []byte, v any) error {
	var head struct {
		Version int `json:"v"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("agentwire: %w", err)
	}
	if head.Version != Version {
		return fmt.Errorf("agentwire: message version %d, this build speaks %d", head.Version, Version)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("agentwire: %w", err)
	}
	return nil
}

// PacksBucket is the object store of pack binaries (host/packstore), each
// under its SHA-256 in lower-case hex; PacksStream is its stream.
const (
	PacksBucket = "TH_PACKS"
	PacksStream = "OBJ_" + PacksBucket
)

// PackReadSubjects are the subjects on which an agent asks the hub (the
// JetStream API) to fetch packs: the object store stream's info and
// direct gets of its messages. An agent needs to publish on these, and
// nothing more, to fetch packs; none of them writes.
func PackReadSubjects() []string {
	return []string{
		"$JS.API.STREAM.INFO." + PacksStream,
		"$JS.API.DIRECT.GET." + PacksStream,        // a message by sequence and subject (a chunk)
		"$JS.API.DIRECT.GET." + PacksStream + ".>", // the last message on a subject (an object's description)
	}
}
