// Package netnstest gives a test network namespaces: one for a host and
// one for each agent, each agent's joined to the host's by a veth pair of
// its own, so that a test runs taskhost's host and agents as if on
// separate machines and cuts one agent off without touching the others.
//
// Agent k (1-based) has the address 10.k.0.2 on its end of the pair and
// reaches the host at 10.k.0.1; loopback is up in every namespace, and
// 127.0.0.1 in a namespace is that namespace's own. The namespaces share
// the test's pid namespace and file system: /proc from the test sees
// every process started in them, and files are where they are.
//
// It needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip command of
// iproute2. New skips the test, saying why, when ip is missing or the
// kernel refuses to make a namespace for lack of privilege; any other
// failure fails the test.
//
// Every process started with Net.Command carries the environment
// variable MarkerEnv naming its namespace, and its descendants inherit
// it (taskhost's packs get their host's environment): Marked finds them
// in /proc. The namespaces are named after the test process's pid; New
// first deletes those of processes that are gone, and the test's cleanup
// kills what was started in its namespaces and deletes them.
package netnstest
