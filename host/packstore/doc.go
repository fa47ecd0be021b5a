// Package packstore carries pack binaries from a host to its agents by
// their SHA-256. The host puts each binary a run needs into the hub's
// object store TH_PACKS, named by its hash in hex, and skips the put when
// an object of that name and digest is already there, so a binary is put
// once per version, not once per run (Store.Put). An agent asks its Cache
// for a binary by hash (Cache.Path): a binary it lacks is fetched into
// its cache directory, hashed as it is written, and kept only if it has
// the hash it is named by; a cached one is hashed again whenever it may
// have changed since its last check (as host/launch checks a pinned
// binary). Neither trusts the object store's own digest, which is what
// the putter computed. PlatformOf reads the OS and architecture a binary
// is built for from its header, and a Cache refuses a binary of another
// platform than its agent's with a clear error instead of an exec error.
//
// An agent reads the store with the stream's info and direct gets only
// (ReadSubjects, which host/hub grants every agent): it makes no
// consumer and writes nothing there.
package packstore
