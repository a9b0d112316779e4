package node

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
)

// metaServersFile holds the metadata group's voters as this node last
// read them: "<id> <id> ... <crc32c of the ids>\n". It is a hint (the
// client finds the leader through any member), so a file that does not
// parse is ignored, not a corruption to stop for.
const metaServersFile = "node/meta-servers"

func formatMetaServers(ids []netmodel.NodeID) []byte {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	s := strings.Join(parts, " ")
	return []byte(fmt.Sprintf("%s %08x\n", s, crc32.Checksum([]byte(s), castagnoli)))
}

// parseMetaServers accepts 1 to raftkv.MembersMax distinct ascending
// non-zero ids with their checksum.
func parseMetaServers(data []byte) ([]netmodel.NodeID, error) {
	line := strings.TrimSuffix(string(data), "\n")
	i := strings.LastIndexByte(line, ' ')
	if i < 0 || fmt.Sprintf("%08x", crc32.Checksum([]byte(line[:i]), castagnoli)) != line[i+1:] {
		return nil, fmt.Errorf("node: %s: checksum: %q", metaServersFile, data)
	}
	f := strings.Fields(line[:i])
	if len(f) == 0 || len(f) > raftkv.MembersMax {
		return nil, fmt.Errorf("node: %s: %d ids", metaServersFile, len(f))
	}
	ids := make([]netmodel.NodeID, 0, len(f))
	for _, s := range f {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 || (len(ids) > 0 && netmodel.NodeID(v) <= ids[len(ids)-1]) {
			return nil, fmt.Errorf("node: %s: id %q", metaServersFile, s)
		}
		ids = append(ids, netmodel.NodeID(v))
	}
	if string(formatMetaServers(ids)) != line+"\n" {
		return nil, fmt.Errorf("node: %s: not in canonical form: %q", metaServersFile, data)
	}
	return ids, nil
}

func writeMetaServers(disk diskmodel.FS, ids []netmodel.NodeID) error {
	if !slices.IsSorted(ids) {
		panic(fmt.Sprintf("node: metadata servers %v not ascending", ids))
	}
	if err := diskmodel.MkdirAll(disk, "node"); err != nil {
		return err
	}
	return diskmodel.WriteFileAtomic(disk, metaServersFile, formatMetaServers(ids))
}

// readMetaServers returns the persisted voters; none (nil, nil) if the
// file does not exist.
func readMetaServers(disk diskmodel.FS) ([]netmodel.NodeID, error) {
	data, err := diskmodel.ReadFile(disk, metaServersFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("node: reading %s: %w", metaServersFile, err)
	}
	return parseMetaServers(data)
}
