package node

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Service names the protocol a message belongs to. Every payload a node
// sends starts with a Header naming one; the rest is that service's own.
type Service uint8

const (
	ServiceMetaServer       Service = iota + 1 // raft and client requests to a metadata replica
	ServiceMetaClient                          // replies to a metadata client
	ServiceMemory                              // the memory agents (global memory)
	ServiceStorage                             // the storage service
	ServiceProcs                               // the process managers (the vproc switch)
	ServiceClient                              // clients of the VM, and the fan-out of their queries (client*.go)
	ServiceStorageMeta                         // the filesystem's metadata sessions to a metadata replica (storage.go)
	ServiceStorageMetaReply                    // a metadata replica's replies to a filesystem session
	numServices
)

// NumServices bounds the services: they are 1 to NumServices-1.
const NumServices = numServices

var serviceNames = [numServices]string{"", "meta-server", "meta-client", "memory", "storage", "procs", "client", "storage-meta", "storage-meta-reply"}

func (s Service) String() string {
	if s > 0 && s < numServices {
		return serviceNames[s]
	}
	return fmt.Sprintf("service(%d)", uint8(s))
}

// HeaderSize is the bytes of a Header on the wire.
const HeaderSize = 12

// headerVersion is the wire version of the header itself.
const headerVersion = 1

// Header starts every payload between nodes: the wire version, the service,
// and the sender's incarnation (so peers drop messages of a dead one).
type Header struct {
	Service     Service
	Incarnation uint64
}

// Errors of DecodeHeader.
var (
	ErrHeaderShort   = errors.New("node: message shorter than its header")
	ErrHeaderVersion = errors.New("node: unknown header version")
	ErrHeaderService = errors.New("node: unknown service")
	ErrHeaderFlags   = errors.New("node: reserved header flags set")
)

// AppendHeader appends h to dst.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, headerVersion, byte(h.Service), 0, 0)
	return binary.LittleEndian.AppendUint64(dst, h.Incarnation)
}

// DecodeHeader reads the header at the start of payload and returns it with
// the service's bytes (aliasing payload).
func DecodeHeader(payload []byte) (Header, []byte, error) {
	if len(payload) < HeaderSize {
		return Header{}, nil, ErrHeaderShort
	}
	if payload[0] != headerVersion {
		return Header{}, nil, fmt.Errorf("%w %d", ErrHeaderVersion, payload[0])
	}
	s := Service(payload[1])
	if s == 0 || s >= numServices {
		return Header{}, nil, fmt.Errorf("%w %d", ErrHeaderService, payload[1])
	}
	if payload[2] != 0 || payload[3] != 0 {
		return Header{}, nil, ErrHeaderFlags
	}
	h := Header{Service: s, Incarnation: binary.LittleEndian.Uint64(payload[4:12])}
	if h.Incarnation == 0 {
		return Header{}, nil, fmt.Errorf("node: header with incarnation 0")
	}
	return h, payload[HeaderSize:], nil
}
