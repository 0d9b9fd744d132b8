// fs_durability.h - what a file system makes durable on fsync(2) of a file.
//
// POSIX only promises that fsync(2) of a file makes its data and inode
// durable; a name created for it (open O_CREAT, rename, link) needs an
// fsync of the directory as well. That second fsync is a second journal
// commit and, on a single-session client, most of the latency of a "250".
//
// Linux's journaling file systems give more: a file's fsync commits every
// journal transaction up to the last one that changed the file's inode,
// and creating, renaming or linking a file changes its inode in the same
// transaction as the directory. So once the name exists, the file's own
// fsync makes the name durable too:
//   ext4  jbd2 commits up to the inode's last transaction; without a
//         journal ext4_sync_file() syncs the parents of new entries itself
//         (ext2 and ext3 are mounted by the ext4 driver on Debian);
//   XFS   the log is forced up to the inode's last logged sequence number,
//         which covers the directory update of the same transaction.
// This is the guarantee Postfix relies on (it never fsyncs a queue
// directory). Elsewhere (tmpfs, NFS, Btrfs, anything unknown) callers keep
// the directory fsync.
//
// Only for names created BEFORE the file's last fsync: a link made after it
// (Maildir's tmp/ -> new/) still needs its own directory fsync. And only
// for the new name: the directory a rename took the file OUT of is not
// written with the file by ext4 without a journal, so it keeps its fsync.
#pragma once

namespace postern {

// True when fsync(fd) also commits names given to this file earlier, on the
// file system holding `fd` (see above). False when fstatfs(2) fails.
bool fsync_commits_earlier_names(int fd);

}  // namespace postern
