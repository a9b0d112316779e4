package node

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"strconv"
	"strings"

	"github.com/flockvm/flock/diskmodel"
)

// incarnationFile holds the node's last incarnation: "<n> <crc32c of n>\n".
const incarnationFile = "node/incarnation"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt: the node's durable state is damaged in a way no crash
// explains; the machine must stay down (fail-stop) rather than risk reusing
// an incarnation.
var ErrCorrupt = errors.New("node: corrupt durable state")

// nextIncarnation reads the last incarnation from disk, adds one, and
// makes the new one durable before returning it: a node speaks only with
// an incarnation no earlier start used.
func nextIncarnation(disk diskmodel.FS) (uint64, error) {
	last := uint64(0)
	data, err := diskmodel.ReadFile(disk, incarnationFile)
	switch {
	case err == nil:
		last, err = parseIncarnation(data)
		if err != nil {
			return 0, err
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return 0, fmt.Errorf("node: reading %s: %w", incarnationFile, err)
	}
	next := last + 1
	if err := diskmodel.MkdirAll(disk, "node"); err != nil {
		return 0, fmt.Errorf("node: %w", err)
	}
	if err := diskmodel.WriteFileAtomic(disk, incarnationFile, formatIncarnation(next)); err != nil {
		return 0, fmt.Errorf("node: writing %s: %w", incarnationFile, err)
	}
	return next, nil
}

func formatIncarnation(n uint64) []byte {
	s := strconv.FormatUint(n, 10)
	return []byte(fmt.Sprintf("%s %08x\n", s, crc32.Checksum([]byte(s), castagnoli)))
}

func parseIncarnation(data []byte) (uint64, error) {
	num, sum, ok := strings.Cut(strings.TrimSuffix(string(data), "\n"), " ")
	if !ok {
		return 0, fmt.Errorf("%w: %s: %q", ErrCorrupt, incarnationFile, data)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || fmt.Sprintf("%08x", crc32.Checksum([]byte(num), castagnoli)) != sum || n == 0 {
		return 0, fmt.Errorf("%w: %s: %q", ErrCorrupt, incarnationFile, data)
	}
	return n, nil
}
