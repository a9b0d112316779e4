// Package identity is who is who in a Flock VM: the VM's certificate
// authority, the certificates of its machines and users, join tokens, the
// credential files a machine or a client holds, and the layout of the
// identity files in a machine's data dir (with the lock that refuses a
// second flock process on the same dir, and the incarnation counter).
//
// Every key is Ed25519. The CA is self-signed and names the VM (its name
// and a random 64-bit id). A certificate names its holder in one URI SAN:
//
//	flock://<vm-id>/machine/<node-id>   a machine of the VM
//	flock://<vm-id>/user/<name>         a user (a client acts as one)
//
// A peer is who its certificate, verified against this VM's CA, says it is:
// a machine speaks only as its own NodeID, a client as a NodeID of the
// client range (ClientIDBit set), never as a machine.
//
// The issuer of a data dir (machine 1's, until it hands its state over
// to the VM's metadata store: vm_records.go names the keys) records each
// key it admitted (identity/issued), so a joiner that asks again with the
// key it kept (identity/join.key) after a lost answer gets the same machine
// id; it also makes join tokens and users' certificates (CreateToken,
// AddUser). After the handover every machine's host issues from the store
// with the same records.
//
// A join token lets a machine without a certificate obtain one: it names
// the CA (by the SHA-256 of its public key, so the joiner can check whom it
// talks to before sending anything) and carries a secret the joiner proves
// by an HMAC bound to the TLS session, never sending the secret itself.
//
// Nothing here is reachable from the simulator: it reads the OS clock only
// where the caller passes time in, and draws keys from the io.Reader given
// (crypto/rand.Reader in production).
package identity
