// Package tcpnet is the production backend of netmodel.Transport: Flock
// frames over TCP, every connection TLS 1.3 with mutual authentication
// against the VM's certificate authority (package identity).
//
// A Transport is one machine's (or one client's) endpoint. Send never
// blocks: a message joins its peer's bounded queue (the oldest is dropped
// when it is full) and a writer goroutine puts it on the wire. Received
// messages arrive on Inbox, a bounded channel the driver drains on its own
// goroutine (a full inbox stalls the reading connections, which is TCP
// back-pressure, never a dropped frame).
//
// Connections: a machine dials one connection to each peer it has an
// address for and sends on it; it reads from every connection. A peer it
// has no address for (a client, or a machine not yet in its address book)
// is answered on the connection that peer dialed. After the TLS handshake
// both ends send a hello frame naming their NodeID and incarnation; the
// certificate must allow that NodeID (identity.Principal.MaySpeakAs). A
// connection without a certificate of this VM's CA fails the handshake, so
// not one Flock byte of it is read.
//
// Incarnations: a message sent while the peer's incarnation i is known is
// written only to a connection of incarnation i, so a peer that restarted
// never receives what was meant for its previous life; messages read from
// a connection of an incarnation that a newer one has since replaced are
// dropped at delivery (Deliver).
//
// Dialing backs off exponentially (BackoffMin to BackoffMax, jittered) and
// runs only while messages wait. The join exchange (a machine without a
// certificate proving a join token) uses its own TLS protocol name on the
// same port; see Join and Config.Join, and docs/transport.md.
package tcpnet
