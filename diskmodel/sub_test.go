package diskmodel_test

import (
	"errors"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/diskmodel/disktest"
	"github.com/flockvm/flock/diskmodel/osdisk"
)

// Sub passes the same contract as every backend.
func TestSubContract(t *testing.T) {
	disktest.TestFS(t, func(t *testing.T) diskmodel.FS {
		disk, err := osdisk.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { disk.Close() })
		if err := disk.Mkdir("jail"); err != nil {
			t.Fatal(err)
		}
		return diskmodel.Sub(disk, "jail")
	})
}

// Nothing outside the directory can be named.
func TestSubStaysInside(t *testing.T) {
	disk, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	for _, dir := range []string{"jail", "secret"} {
		if err := disk.Mkdir(dir); err != nil {
			t.Fatal(err)
		}
	}
	sub := diskmodel.Sub(disk, "jail")
	for _, name := range []string{"../secret", "/secret", "jail/../../secret"} {
		if _, err := sub.Stat(name); !errors.Is(err, diskmodel.ErrInvalidName) {
			t.Errorf("Sub.Stat(%q) error = %v, want ErrInvalidName", name, err)
		}
	}
	if err := sub.Remove("."); err == nil {
		t.Errorf("Sub.Remove(.) = nil error, want the root kept")
	}
}
