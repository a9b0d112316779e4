package main

import (
	"slices"
	"testing"
)

func TestTakeClientFlags(t *testing.T) {
	tests := []struct {
		args     []string
		want     []string
		vm, cred string
		wantErr  bool
	}{
		{args: []string{"p.fl"}, want: []string{"p.fl"}},
		{args: []string{"p.fl", "1", "2"}, want: []string{"p.fl", "1", "2"}},
		{args: []string{"p.fl", "--vm", "a@h:1", "x"}, want: []string{"p.fl", "x"}, vm: "a@h:1"},
		{args: []string{"p.fl", "--vm=a@h:1", "--credential", "c.pem", "x", "--vm", "y"}, want: []string{"p.fl", "x", "--vm", "y"}, vm: "a@h:1", cred: "c.pem"},
		{args: []string{"p.fl", "--vm", "a@h:1", "--", "--vm", "z"}, want: []string{"p.fl", "--vm", "z"}, vm: "a@h:1"},
		{args: []string{"p.fl", "--vm"}, wantErr: true},
	}
	for _, tc := range tests {
		var cf clientFlags
		got, err := takeClientFlags(&cf, tc.args)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) || cf.vm != tc.vm || cf.credential != tc.cred {
			t.Errorf("takeClientFlags(%q) = %q, vm %q, credential %q, %v; want %q, %q, %q, error %v",
				tc.args, got, cf.vm, cf.credential, err, tc.want, tc.vm, tc.cred, tc.wantErr)
		}
	}
}

func TestSplitVM(t *testing.T) {
	for _, tc := range []struct {
		in, name, addr string
		ok             bool
	}{
		{"myvm@10.0.0.1:7070", "myvm", "10.0.0.1:7070", true},
		{"a@[::1]:1", "a", "[::1]:1", true},
		{"myvm", "", "", false},
		{"My@h:1", "", "", false},
		{"a@nohostport", "", "", false},
	} {
		name, addr, err := splitVM(tc.in)
		if (err == nil) != tc.ok || name != tc.name || addr != tc.addr {
			t.Errorf("splitVM(%q) = %q, %q, %v; want %q, %q, ok %v", tc.in, name, addr, err, tc.name, tc.addr, tc.ok)
		}
	}
}
