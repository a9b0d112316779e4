package simdisk

import (
	"math/rand/v2"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/diskmodel/disktest"
)

func TestContract(t *testing.T) {
	disktest.TestFS(t, func(t *testing.T) diskmodel.FS {
		return New(rand.New(rand.NewPCG(1, 2)), Faults{})
	})
}
