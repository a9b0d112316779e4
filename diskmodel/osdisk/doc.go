// Package osdisk is the production diskmodel.FS: a directory of the real
// file system, with real durability. File.Sync is fsync (never fdatasync:
// a size change must reach the disk too), SyncDir opens the directory and
// fsyncs it, and every name is resolved through an os.Root so no name, and no
// symbolic link, reaches outside the directory.
//
// Errors are *fs.PathError values naming the path relative to the root.
// ENOSPC and EDQUOT are reported as diskmodel.ErrNoSpace, EIO as
// diskmodel.ErrIO; other errno values pass through (errors.Is with
// fs.ErrNotExist, fs.ErrExist, syscall.ENOTDIR, ... works as with package os).
package osdisk
