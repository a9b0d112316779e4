package sys

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Users and the attributes of a directory (the replicated filesystem's
// permissions, docs/storage.md).
const (
	// UserRoot is the admin user: every permission check passes for it.
	UserRoot = "root"
	// Everyone in a readers or writers list stands for every user.
	Everyone = "*"
	// UserBytesMax bounds a user name.
	UserBytesMax = 64
	// UsersMax bounds a readers or writers list.
	UsersMax = 64
	// RedundancyMax bounds a directory's redundancy.
	RedundancyMax = 7
)

// ValidUser reports whether u can name a user: 1 to UserBytesMax bytes of
// letters, digits, '.', '_' and '-'.
func ValidUser(u string) bool {
	if u == "" || len(u) > UserBytesMax {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Attr is what GETATTR reports of a directory: its redundancy (how many
// machines keep each chunk of its files), its owner (who, with root, may
// change the attributes) and who may read and write in it.
type Attr struct {
	Redundancy uint8
	Owner      string
	Readers    []string // sorted, no duplicates; Everyone for all
	Writers    []string
}

// AttrChange is what SETATTR changes; nil lists and zero Redundancy keep
// the current value.
type AttrChange struct {
	Redundancy uint8
	Readers    []string
	Writers    []string
	SetReaders bool // Readers replaces the list (an empty list allows only root)
	SetWriters bool
}

// Apply returns a with the change made.
func (c AttrChange) Apply(a Attr) Attr {
	if c.Redundancy != 0 {
		a.Redundancy = c.Redundancy
	}
	if c.SetReaders {
		a.Readers = slices.Clone(c.Readers)
	}
	if c.SetWriters {
		a.Writers = slices.Clone(c.Writers)
	}
	return a
}

// Allows reports whether user is in the list (or the list holds Everyone);
// root is in every list.
func Allows(list []string, user string) bool {
	return user == UserRoot || slices.Contains(list, Everyone) || slices.Contains(list, user)
}

// Format is the text GETATTR writes:
//
//	redundancy=2
//	owner=alice
//	readers=alice,bob
//	writers=*
func (a Attr) Format() []byte {
	return fmt.Appendf(nil, "redundancy=%d\nowner=%s\nreaders=%s\nwriters=%s\n",
		a.Redundancy, a.Owner, strings.Join(a.Readers, ","), strings.Join(a.Writers, ","))
}

// ParseAttrChange parses what SETATTR reads: lines "redundancy=N",
// "readers=u1,u2" and "writers=..." (each at most once, any subset, in any
// order; an empty list after '=' allows only root). User lists are sorted
// and deduplicated.
func ParseAttrChange(text []byte) (AttrChange, error) {
	var c AttrChange
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		name, value, ok := strings.Cut(line, "=")
		if !ok || seen[name] {
			return AttrChange{}, fmt.Errorf("sys: attribute line %q: want a new name=value", line)
		}
		seen[name] = true
		switch name {
		case "redundancy":
			r, err := strconv.ParseUint(value, 10, 8)
			if err != nil || r < 1 || r > RedundancyMax || strconv.FormatUint(r, 10) != value {
				return AttrChange{}, fmt.Errorf("sys: redundancy %q: want 1 to %d", value, RedundancyMax)
			}
			c.Redundancy = uint8(r)
		case "readers", "writers":
			users, err := ParseUsers(value)
			if err != nil {
				return AttrChange{}, err
			}
			if name == "readers" {
				c.Readers, c.SetReaders = users, true
			} else {
				c.Writers, c.SetWriters = users, true
			}
		default:
			return AttrChange{}, fmt.Errorf("sys: unknown attribute %q (redundancy, readers, writers)", name)
		}
	}
	return c, nil
}

// ParseUsers parses a comma-separated list of users (or Everyone), sorted
// and deduplicated; "" is the empty list.
func ParseUsers(s string) ([]string, error) {
	if s == "" {
		return []string{}, nil
	}
	users := strings.Split(s, ",")
	for _, u := range users {
		if u != Everyone && !ValidUser(u) {
			return nil, fmt.Errorf("sys: %q is not a user name", u)
		}
	}
	slices.Sort(users)
	users = slices.Compact(users)
	if len(users) > UsersMax {
		return nil, fmt.Errorf("sys: %d users exceed %d", len(users), UsersMax)
	}
	return users, nil
}

// ParseAttr parses what Format wrote.
func ParseAttr(text []byte) (Attr, error) {
	var a Attr
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if len(lines) != 4 {
		return Attr{}, fmt.Errorf("sys: attributes %q: want 4 lines", text)
	}
	var err error
	for i, name := range []string{"redundancy", "owner", "readers", "writers"} {
		key, value, ok := strings.Cut(lines[i], "=")
		if !ok || key != name {
			return Attr{}, fmt.Errorf("sys: attribute line %q: want %s=", lines[i], name)
		}
		switch name {
		case "redundancy":
			r, perr := strconv.ParseUint(value, 10, 8)
			if perr != nil || r < 1 || r > RedundancyMax {
				return Attr{}, fmt.Errorf("sys: redundancy %q", value)
			}
			a.Redundancy = uint8(r)
		case "owner":
			if !ValidUser(value) {
				return Attr{}, fmt.Errorf("sys: owner %q", value)
			}
			a.Owner = value
		case "readers":
			a.Readers, err = ParseUsers(value)
		case "writers":
			a.Writers, err = ParseUsers(value)
		}
		if err != nil {
			return Attr{}, err
		}
	}
	return a, nil
}
