#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
// Linux calls that Swift's Glibc module leaves out because glibc declares them only under
// _GNU_SOURCE. The prototypes are glibc's own (fcntl.h, unistd.h), so the two never disagree.
#include <sys/types.h>

extern int sync_file_range(int __fd, __off64_t __offset, __off64_t __count, unsigned int __flags);
extern int syncfs(int __fd);

/// Writes a range of a file out to the device and waits until it is there
/// (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER).
static inline int clinux_write_out(int fd, __off64_t offset, __off64_t length) {
    return sync_file_range(fd, offset, length, 1 | 2 | 4);
}

/// O_PATH (fcntl.h defines it only under _GNU_SOURCE): a descriptor that names a file without
/// opening it, for walking a path one component at a time. The kernel's value on every
/// architecture Linux shares generic fcntl flags with, x86_64 and aarch64 among them.
static const int clinux_o_path = 010000000;
#endif
