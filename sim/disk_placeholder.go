package sim

import (
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// placeholderDisk stands in for simdisk until it lands: an in-memory tree
// with latency and no crash semantics. TODO(sim): delete.
type placeholderDisk struct {
	rng     *rand.Rand
	faults  FaultConfig
	files   map[string]*[]byte
	dirs    map[string]bool
	latency time.Duration
}

func newPlaceholderDisk(rng *rand.Rand, f FaultConfig) *placeholderDisk {
	return &placeholderDisk{rng: rng, faults: f, files: map[string]*[]byte{}, dirs: map[string]bool{".": true}}
}

func (d *placeholderDisk) op() {
	d.latency += time.Duration(uniformDuration(d.rng, int64(d.faults.DiskLatencyMin), int64(d.faults.DiskLatencyMax)))
}

func (d *placeholderDisk) Crash()                     {}
func (d *placeholderDisk) Rot(n int) int              { return 0 }
func (d *placeholderDisk) TakeLatency() time.Duration { l := d.latency; d.latency = 0; return l }

func (d *placeholderDisk) OpenFile(name string, mode diskmodel.OpenMode) (diskmodel.File, error) {
	d.op()
	if !diskmodel.ValidName(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: diskmodel.ErrInvalidName}
	}
	b, ok := d.files[name]
	switch {
	case ok && mode == diskmodel.CreateExclusive:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && mode == diskmodel.OpenExisting:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		if !d.dirs[path.Dir(name)] {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		b = new([]byte)
		d.files[name] = b
	}
	return &placeholderFile{d: d, b: b}, nil
}

func (d *placeholderDisk) Stat(name string) (diskmodel.FileInfo, error) {
	if d.dirs[name] {
		return diskmodel.FileInfo{Name: path.Base(name), IsDir: true}, nil
	}
	if b, ok := d.files[name]; ok {
		return diskmodel.FileInfo{Name: path.Base(name), Size: int64(len(*b))}, nil
	}
	return diskmodel.FileInfo{}, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (d *placeholderDisk) ReadDir(dir string) ([]diskmodel.FileInfo, error) {
	var out []diskmodel.FileInfo
	prefix := dir + "/"
	if dir == "." {
		prefix = ""
	}
	for n := range d.files {
		if strings.HasPrefix(n, prefix) && !strings.Contains(n[len(prefix):], "/") {
			fi, _ := d.Stat(n)
			out = append(out, fi)
		}
	}
	for n := range d.dirs {
		if n != "." && strings.HasPrefix(n, prefix) && !strings.Contains(n[len(prefix):], "/") {
			out = append(out, diskmodel.FileInfo{Name: path.Base(n), IsDir: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *placeholderDisk) Mkdir(dir string) error {
	d.op()
	if d.dirs[dir] {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: fs.ErrExist}
	}
	d.dirs[dir] = true
	return nil
}

func (d *placeholderDisk) Remove(name string) error {
	d.op()
	delete(d.files, name)
	delete(d.dirs, name)
	return nil
}

func (d *placeholderDisk) Rename(o, n string) error {
	d.op()
	b, ok := d.files[o]
	if !ok {
		return &fs.PathError{Op: "rename", Path: o, Err: fs.ErrNotExist}
	}
	delete(d.files, o)
	d.files[n] = b
	return nil
}

func (d *placeholderDisk) SyncDir(string) error { d.op(); return nil }

type placeholderFile struct {
	d *placeholderDisk
	b *[]byte
}

func (f *placeholderFile) ReadAt(p []byte, off int64) (int, error) {
	f.d.op()
	if off >= int64(len(*f.b)) {
		return 0, io.EOF
	}
	n := copy(p, (*f.b)[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *placeholderFile) WriteAt(p []byte, off int64) (int, error) {
	f.d.op()
	if end := off + int64(len(p)); end > int64(len(*f.b)) {
		*f.b = append(*f.b, make([]byte, end-int64(len(*f.b)))...)
	}
	return copy((*f.b)[off:], p), nil
}

func (f *placeholderFile) Size() (int64, error) { return int64(len(*f.b)), nil }
func (f *placeholderFile) Truncate(size int64) error {
	if size <= int64(len(*f.b)) {
		*f.b = (*f.b)[:size]
		return nil
	}
	*f.b = append(*f.b, make([]byte, size-int64(len(*f.b)))...)
	return nil
}
func (f *placeholderFile) Sync() error  { f.d.op(); return nil }
func (f *placeholderFile) Close() error { return nil }
