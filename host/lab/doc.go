// Package lab keeps what a host needs to let taskhost agents in: the
// lab directory, with the hub's TLS certificate and key (hub-cert.pem,
// hub-key.pem: a self-signed certificate for the names and addresses the
// agents reach the host by, which agents take as their CA), and the
// agents file (agents.json: each admitted agent's name and public nkey).
//
// Adding an agent makes an nkey pair: the public key goes into the agents
// file, the seed into a file for the agent's machine (0600). Revoking an
// agent removes it from the agents file; a running host reads the file
// again every second and closes the connections of agents no longer in
// it (host/hub).
package lab
