#!/usr/bin/python3
"""A FUSE file system with one file, "data", whose reads wait.

Usage: stallfs.py MOUNTPOINT CTLDIR SIZE [LIMIT]

Serves MOUNTPOINT/data, SIZE bytes, byte at offset o being o % 251.  A
read first creates CTLDIR/reading, then waits until CTLDIR/release
exists (at most LIMIT seconds, default 300: it never waits for ever),
then returns its bytes.  For tests/c/odp_stall: an ODP page fault on a
mapping of the file blocks in the backing store for as long as the test
wants.  Runs in the foreground until unmounted.  Needs python3-fusepy
and CONFIG_FUSE_FS.
"""
import errno
import os
import stat
import sys
import time

import fusepy


class StallFS(fusepy.Operations):
    def __init__(self, ctl, size, limit):
        self.ctl = ctl
        self.size = size
        self.limit = limit

    def getattr(self, path, fh=None):
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path == "/data":
            return {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1,
                    "st_size": self.size}
        raise fusepy.FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", "..", "data"]

    def open(self, path, flags):
        if path != "/data":
            raise fusepy.FuseOSError(errno.ENOENT)
        return 0

    def read(self, path, size, offset, fh):
        with open(os.path.join(self.ctl, "reading"), "a"):
            pass
        end = time.monotonic() + self.limit
        release = os.path.join(self.ctl, "release")
        while not os.path.exists(release) and time.monotonic() < end:
            time.sleep(0.05)
        size = max(0, min(size, self.size - offset))
        return bytes((o % 251) for o in range(offset, offset + size))


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    limit = float(sys.argv[4]) if len(sys.argv) == 5 else 300.0
    fusepy.FUSE(StallFS(sys.argv[2], int(sys.argv[3]), limit), sys.argv[1],
                foreground=True, ro=True)


if __name__ == "__main__":
    main()
