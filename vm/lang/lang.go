package lang

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
	"github.com/flockvm/flock/vm/lang/diag"
	"github.com/flockvm/flock/vm/lang/gen"
	"github.com/flockvm/flock/vm/lang/parse"
	"github.com/flockvm/flock/vm/lang/std"
)

// ReadFile reads a source file a program imports (a path relative to the
// directory of the importing file).
type ReadFile func(path string) ([]byte, error)

// Options tune compilation.
type Options struct {
	// NoOptimize turns the peephole pass off.
	NoOptimize bool
	// FrameChunkBytes is the unit in which threads allocate memory for
	// their memory frames; 0: gen.DefaultFrameChunkBytes.
	FrameChunkBytes int64
}

// ErrAssembly is wrapped by the error for a .fl file that holds Flock
// assembly.
var ErrAssembly = errors.New("this is Flock assembly, not the Flock language")

// Compile compiles the program whose main file is file (with text src);
// read loads the files it imports. On failure the error is a diag.List, or
// wraps ErrAssembly.
func Compile(file string, src []byte, read ReadFile, opt Options) (*isa.Program, error) {
	prog, err := Check(file, src, read)
	if err != nil {
		return nil, err
	}
	return gen.Generate(prog, gen.Options{NoOptimize: opt.NoOptimize, FrameChunkBytes: opt.FrameChunkBytes})
}

// Check parses and checks a program without generating code.
func Check(file string, src []byte, read ReadFile) (*check.Program, error) {
	var errs diag.List
	main := parse.File(file, src, &errs)
	if len(errs) > 0 {
		if LooksLikeAssembly(src) {
			return nil, fmt.Errorf("%s: %w; assembly files are named .flasm (rename it %s)", file, ErrAssembly, strings.TrimSuffix(file, ".fl")+".flasm")
		}
		return nil, errs.Sort()
	}
	imp := &Importer{Read: read, Errs: &errs}
	prog := check.Check(main, imp, &errs)
	if len(errs) > 0 {
		return nil, errs.Sort()
	}
	return prog, nil
}

// Importer resolves imports: "./x" and "../x" are the file x.fl relative to
// the importing file, anything else a standard module.
type Importer struct {
	Read  ReadFile
	Errs  *diag.List
	cache map[string]*ast.File // by key: each module is parsed once
}

func (im *Importer) parse(key, name string, src []byte) *ast.File {
	if f, ok := im.cache[key]; ok {
		return f
	}
	if im.cache == nil {
		im.cache = map[string]*ast.File{}
	}
	f := parse.File(name, src, im.Errs)
	im.cache[key] = f
	return f
}

// Import implements check.Importer.
func (im *Importer) Import(from *ast.File, p string) (*ast.File, string, error) {
	if IsRelativeImport(p) {
		full := path.Join(path.Dir(from.Name), p)
		if !strings.HasSuffix(full, ".fl") {
			full += ".fl"
		}
		key := "file:" + full
		if f, ok := im.cache[key]; ok {
			return f, key, nil
		}
		if im.Read == nil {
			return nil, "", fmt.Errorf("no file system to read %s from", full)
		}
		src, err := im.Read(full)
		if err != nil {
			return nil, "", err
		}
		return im.parse(key, full, src), key, nil
	}
	src, ok := std.Source(p)
	if !ok {
		return nil, "", fmt.Errorf("no standard module %q (relative imports start with ./ or ../)", p)
	}
	key := "std:" + p
	return im.parse(key, "std/"+p+".fl", src), key, nil
}

// IsRelativeImport reports whether an import path names a file relative to
// the importer.
func IsRelativeImport(p string) bool {
	return strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../")
}

// LooksLikeAssembly reports whether source text is Flock assembly: most of
// its statements are labels, directives or instruction mnemonics.
func LooksLikeAssembly(src []byte) bool {
	asmLines, total := 0, 0
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		total++
		word := line
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			word = line[:i]
		}
		switch {
		case strings.HasPrefix(word, ".") && len(word) > 1:
			asmLines++
		case strings.HasSuffix(word, ":") && len(word) > 1 && !strings.Contains(word, "("):
			asmLines++
		default:
			if _, ok := isa.Lookup(word); ok && strings.ToUpper(word) == word {
				asmLines++
			}
		}
	}
	return total > 0 && asmLines*2 > total
}
