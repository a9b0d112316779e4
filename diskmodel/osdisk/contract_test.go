package osdisk

import (
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/diskmodel/disktest"
)

func TestContract(t *testing.T) {
	disktest.TestFS(t, func(t *testing.T) diskmodel.FS {
		fsys, err := Open(t.TempDir())
		if err != nil {
			t.Fatalf("Open(TempDir) = %v", err)
		}
		t.Cleanup(func() { fsys.Close() })
		return fsys
	})
}
