package probe

import (
	"fmt"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
)

// Mark is one named rare path. The zero Mark is not usable: get one from
// Declare.
type Mark struct {
	name string
	doc  string
	hits atomic.Int64
}

var (
	counting atomic.Bool
	mu       sync.Mutex
	marks    = map[string]*Mark{}
)

var namePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)+$`)

// Declare registers a mark. It panics on a malformed or duplicate name:
// both are programming errors found at init.
func Declare(name, doc string) *Mark {
	if !namePattern.MatchString(name) {
		panic(fmt.Sprintf("probe: mark name %q is not package/what-happened in lower-case words with dashes", name))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := marks[name]; dup {
		panic(fmt.Sprintf("probe: mark %q declared twice", name))
	}
	m := &Mark{name: name, doc: doc}
	marks[name] = m
	return m
}

// Hit records that the rare path ran (when someone is counting).
func (m *Mark) Hit() {
	if counting.Load() {
		m.hits.Add(1)
	}
}

// Name is the mark's name.
func (m *Mark) Name() string { return m.name }

// Doc says what the mark means.
func (m *Mark) Doc() string { return m.doc }

// Start zeroes every mark and starts counting.
func Start() {
	mu.Lock()
	defer mu.Unlock()
	for _, m := range marks {
		m.hits.Store(0)
	}
	counting.Store(true)
}

// Stop stops counting; counts stay readable until the next Start.
func Stop() { counting.Store(false) }

// Counts returns the hits of every declared mark since Start (zero ones
// included), by name.
func Counts() map[string]int64 {
	mu.Lock()
	defer mu.Unlock()
	out := make(map[string]int64, len(marks))
	for name, m := range marks {
		out[name] = m.hits.Load()
	}
	return out
}

// Info describes a declared mark.
type Info struct {
	Name string
	Doc  string
}

// All lists every declared mark, sorted by name.
func All() []Info {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Info, 0, len(marks))
	for _, m := range marks {
		out = append(out, Info{Name: m.name, Doc: m.doc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup finds a declared mark by name.
func Lookup(name string) (*Mark, bool) {
	mu.Lock()
	defer mu.Unlock()
	m, ok := marks[name]
	return m, ok
}
