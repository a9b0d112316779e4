package node

import (
	"errors"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/diskmodel/osdisk"
)

func TestIncarnationsNeverRepeat(t *testing.T) {
	disk, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	for want := uint64(1); want <= 3; want++ {
		got, err := nextIncarnation(disk)
		if err != nil || got != want {
			t.Fatalf("nextIncarnation() = %d, %v; want %d", got, err, want)
		}
	}
}

func TestIncarnationCorruptionIsFailStop(t *testing.T) {
	for _, content := range []string{"", "7", "7 00000000\n", "x 12345678\n", "0 " + string(formatIncarnation(0)[2:])} {
		disk, err := osdisk.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := diskmodel.MkdirAll(disk, "node"); err != nil {
			t.Fatal(err)
		}
		if err := diskmodel.WriteFileAtomic(disk, incarnationFile, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if _, err := nextIncarnation(disk); !errors.Is(err, ErrCorrupt) {
			t.Errorf("nextIncarnation over %q = %v, want ErrCorrupt", content, err)
		}
		disk.Close()
	}
}

func FuzzParseIncarnation(f *testing.F) {
	f.Add(formatIncarnation(1))
	f.Add(formatIncarnation(1 << 60))
	f.Add([]byte("1 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseIncarnation(b)
		if err != nil {
			return
		}
		if n == 0 || string(formatIncarnation(n)) != string(b) && string(formatIncarnation(n)) != string(b)+"\n" {
			t.Fatalf("parseIncarnation(%q) = %d, which formats as %q", b, n, formatIncarnation(n))
		}
	})
}
