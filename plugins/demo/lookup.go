package main

import (
	"fmt"
	"hash/fnv"

	"github.com/taskhost/taskhost/sdk"
)

// LookupArgs are lookup's arguments.
type LookupArgs struct {
	Name string `arg:"name,required" doc:"the device name to look up"`
}

// registerLookup adds lookup, a task with outputs that other tasks read.
func registerLookup(s *sdk.Set) {
	sdk.Register(s, "lookup", "Looks up a device's address (made up from its name) and sets it as the output addr.", Lookup)
	s.DeclareOutputs("lookup",
		sdk.Output{Name: "addr", Doc: "the device's address, a documentation address (192.0.2.x)"},
		sdk.Output{Name: "name", Doc: "the name looked up"})
}

// Lookup sets the outputs addr and name. Nothing is contacted.
func Lookup(t *sdk.T, args LookupArgs) {
	t.Step("resolve "+args.Name, func(t *sdk.T) {
		h := fnv.New32a()
		h.Write([]byte(args.Name))
		addr := fmt.Sprintf("192.0.2.%d", 1+h.Sum32()%254)
		t.Logf("%s is %s", args.Name, addr)
		t.SetOutput("addr", addr)
		t.SetOutput("name", args.Name)
	})
}
