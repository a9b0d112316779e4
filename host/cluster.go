package host

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// A machine's data dir holds, beside its identity (package identity) and
// the node's own state:
const (
	// ClusterFile says which VM the machine belongs to and its metadata
	// voters (fixed when the VM was made).
	ClusterFile = "cluster"
	// PeersFile is the address book as last known: a restarted machine
	// reaches its peers from it even if the machine it joined through is
	// down.
	PeersFile = "peers"
	// LeftFile marks a machine that left the VM (flock leave): it must not
	// start again on this data dir.
	LeftFile = "left"
)

// Cluster is what a machine knows of its VM: its name, its metadata
// voters and the machines' addresses. The issuer hands it to every
// machine it admits (identity.JoinResponse.Cluster).
type Cluster struct {
	VM     string
	Voters []netmodel.NodeID
	Peers  map[netmodel.NodeID]string
}

// Bounds of a decoded Cluster.
const (
	clusterBytesMax  = identity.JoinClusterMax
	clusterVotersMax = 5
	clusterPeersMax  = 1000
	addressBytesMax  = 256
)

// ErrCluster wraps every error about a cluster or peers file or blob that
// does not parse.
var ErrCluster = errors.New("host: bad cluster description")

// Encode is the cluster as text:
//
//	vm myvm
//	voters 1 2 3
//	peer 1 10.0.0.1:7070
//	peer 2 10.0.0.2:7070
func (c Cluster) Encode() []byte {
	var b strings.Builder
	if c.VM != "" {
		fmt.Fprintf(&b, "vm %s\n", c.VM)
	}
	if len(c.Voters) > 0 {
		b.WriteString("voters")
		for _, v := range c.Voters {
			fmt.Fprintf(&b, " %d", v)
		}
		b.WriteString("\n")
	}
	ids := make([]netmodel.NodeID, 0, len(c.Peers))
	for id := range c.Peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "peer %d %s\n", id, c.Peers[id])
	}
	return []byte(b.String())
}

// DecodeCluster parses what Encode writes. Untrusted input (a joiner reads
// it from the network): garbage is an error, never a panic.
func DecodeCluster(data []byte) (Cluster, error) {
	c := Cluster{Peers: map[netmodel.NodeID]string{}}
	if len(data) > clusterBytesMax {
		return Cluster{}, fmt.Errorf("%w: %d bytes, more than %d", ErrCluster, len(data), clusterBytesMax)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" && len(data) == 0 {
			break
		}
		if err := c.parseLine(line); err != nil {
			return Cluster{}, fmt.Errorf("%w: line %d %q: %w", ErrCluster, i+1, line, err)
		}
	}
	return c, nil
}

func (c *Cluster) parseLine(line string) error {
	f := strings.Fields(line)
	if len(f) < 2 || strings.Join(f, " ") != line {
		return errors.New("want a key and values separated by single spaces")
	}
	switch f[0] {
	case "vm":
		if len(f) != 2 || !identity.ValidVMName(f[1]) || c.VM != "" {
			return errors.New("want one valid VM name, once")
		}
		c.VM = f[1]
	case "voters":
		if len(f)-1 > clusterVotersMax || c.Voters != nil {
			return fmt.Errorf("want at most %d voters, once", clusterVotersMax)
		}
		for _, v := range f[1:] {
			id, err := parseMachineID(v)
			if err != nil || slices.Contains(c.Voters, id) {
				return fmt.Errorf("voter %q", v)
			}
			c.Voters = append(c.Voters, id)
		}
	case "peer":
		if len(f) != 3 || len(f[2]) > addressBytesMax || len(c.Peers) >= clusterPeersMax {
			return errors.New("want peer <id> <address>")
		}
		id, err := parseMachineID(f[1])
		if err != nil {
			return err
		}
		if _, dup := c.Peers[id]; dup {
			return fmt.Errorf("machine %d twice", id)
		}
		c.Peers[id] = f[2]
	default:
		return fmt.Errorf("unknown key %q", f[0])
	}
	return nil
}

func parseMachineID(s string) (netmodel.NodeID, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	id := netmodel.NodeID(v)
	if err != nil || v == 0 || identity.IsClientID(id) || strconv.FormatUint(v, 10) != s {
		return 0, fmt.Errorf("machine id %q", s)
	}
	return id, nil
}

// SaveCluster writes the VM's name and voters (ClusterFile) and the
// address book (PeersFile) into the data dir, atomically each.
func SaveCluster(disk diskmodel.FS, c Cluster) error {
	if err := diskmodel.WriteFileAtomic(disk, ClusterFile, Cluster{VM: c.VM, Voters: c.Voters}.Encode()); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return SavePeers(disk, c.Peers)
}

// SavePeers writes the address book.
func SavePeers(disk diskmodel.FS, peers map[netmodel.NodeID]string) error {
	if err := diskmodel.WriteFileAtomic(disk, PeersFile, Cluster{Peers: peers}.Encode()); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// LoadCluster reads ClusterFile and PeersFile (a missing peers file is an
// empty book).
func LoadCluster(disk diskmodel.FS) (Cluster, error) {
	data, err := diskmodel.ReadFile(disk, ClusterFile)
	if err != nil {
		return Cluster{}, fmt.Errorf("host: %w", err)
	}
	c, err := DecodeCluster(data)
	if err != nil {
		return Cluster{}, fmt.Errorf("%s: %w", ClusterFile, err)
	}
	if c.VM == "" || len(c.Voters) == 0 || len(c.Peers) > 0 {
		return Cluster{}, fmt.Errorf("%s: %w: want a vm and voters only", ClusterFile, ErrCluster)
	}
	data, err = diskmodel.ReadFile(disk, PeersFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return Cluster{}, fmt.Errorf("host: %w", err)
	}
	p, err := DecodeCluster(data)
	if err != nil || p.VM != "" || p.Voters != nil {
		return Cluster{}, fmt.Errorf("%s: %w", PeersFile, errors.Join(ErrCluster, err))
	}
	c.Peers = p.Peers
	return c, nil
}
