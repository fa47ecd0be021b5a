package packserver

import (
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/result"
)

// describeToWire is d as the Describe RPC answers it; funcName names each
// task's function.
func describeToWire(d pack.Description, funcName func(task string) string) *packv1.DescribeResponse {
	out := &packv1.DescribeResponse{Name: d.Name, Version: d.Version, SdkVersion: d.SDKVersion}
	for _, v := range d.ProtocolVersions {
		out.ProtocolVersions = append(out.ProtocolVersions, int32(v))
	}
	for _, t := range d.Tasks {
		ts := &packv1.TaskSpec{Name: t.Name, Doc: t.Doc, FuncName: funcName(t.Name), Args: argsToWire(t.Args)}
		for _, o := range t.Outputs {
			ts.Outputs = append(ts.Outputs, &packv1.OutputSpec{Name: o.Name, Doc: o.Doc})
		}
		out.Tasks = append(out.Tasks, ts)
	}
	for _, h := range d.Hooks {
		hs := &packv1.HookSpec{Name: h.Name, Doc: h.Doc, Args: argsToWire(h.Args)}
		for _, st := range h.Stages {
			hs.Stages = append(hs.Stages, string(st))
		}
		out.Hooks = append(out.Hooks, hs)
	}
	return out
}

func argsToWire(args []pack.ArgInfo) []*packv1.ArgSpec {
	var out []*packv1.ArgSpec
	for _, a := range args {
		out = append(out, &packv1.ArgSpec{Name: a.Name, TypeJson: a.Type, Doc: a.Doc, Required: a.Required})
	}
	return out
}

// DescribeFromWire is the Description a Describe RPC answered.
func DescribeFromWire(resp *packv1.DescribeResponse) pack.Description {
	d := pack.Description{Name: resp.GetName(), Version: resp.GetVersion(), SDKVersion: resp.GetSdkVersion(), Tasks: []pack.TaskInfo{}}
	for _, v := range resp.GetProtocolVersions() {
		d.ProtocolVersions = append(d.ProtocolVersions, int(v))
	}
	for _, t := range resp.GetTasks() {
		ti := pack.TaskInfo{Name: t.GetName(), Doc: t.GetDoc(), Args: argsFromWire(t.GetArgs())}
		for _, o := range t.GetOutputs() {
			ti.Outputs = append(ti.Outputs, pack.OutputInfo{Name: o.GetName(), Doc: o.GetDoc()})
		}
		d.Tasks = append(d.Tasks, ti)
	}
	for _, h := range resp.GetHooks() {
		hi := pack.HookInfo{Name: h.GetName(), Doc: h.GetDoc(), Args: argsFromWire(h.GetArgs())}
		for _, st := range h.GetStages() {
			hi.Stages = append(hi.Stages, result.Stage(st))
		}
		d.Hooks = append(d.Hooks, hi)
	}
	return d
}

func argsFromWire(args []*packv1.ArgSpec) []pack.ArgInfo {
	out := []pack.ArgInfo{}
	for _, a := range args {
		out = append(out, pack.ArgInfo{Name: a.GetName(), Type: a.GetTypeJson(), Doc: a.GetDoc(), Required: a.GetRequired()})
	}
	return out
}
