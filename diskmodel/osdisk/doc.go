// Package osdisk is the production diskmodel.FS: a directory of the real
// file system, with real durability. File.Sync is fsync (never fdatasync:
// a size change must reach the disk too), SyncDir opens the directory and
// fsyncs it, and every name is resolved through an os.Root so no name, and no
// symbolic link, reaches outside the directory. The directories files are
// opened in are kept open (at most 256), each as a root of its own, so that
// opening a file costs one openat rather than one per path component; the
// FS drops a directory's handle when it removes or renames it, and assumes
// nothing else changes the tree's directories (the data dir's lock).
//
// Errors are *fs.PathError values naming the path relative to the root.
// ENOSPC and EDQUOT are reported as diskmodel.ErrNoSpace, EIO as
// diskmodel.ErrIO; other errno values pass through (errors.Is with
// fs.ErrNotExist, fs.ErrExist, syscall.ENOTDIR, ... works as with package os).
package osdisk
