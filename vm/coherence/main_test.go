package coherence

import (
	"fmt"
	"os"
	"testing"
)

// TestMain: COHERENCE_BUG=name runs every test of the package with that
// planted bug switched on in the property tests (they must then fail: a
// quick way to see that they can).
func TestMain(m *testing.M) {
	if name := os.Getenv("COHERENCE_BUG"); name != "" {
		b, err := ParseBug(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		testBugs = b
	}
	os.Exit(m.Run())
}
