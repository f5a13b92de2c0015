"""Find sanlock leases on deleted files: what the lease cleanup must never leave behind.

Two views, both plain text so that a lab host can produce them with a shell
command (COLLECT) and a private test daemon locally:
- a daemon's open files (/proc/<sanlock pid>/fd links): a link under the
  lease directory marked "(deleted)" is a lease file the daemon works on
  although it has no name any more. sanlock opens a lease's file for each
  acquire and release and closes it after, so this view only catches a daemon
  in the middle of one;
- the resources a daemon holds (`sanlock client status`, lines
  "r <lockspace>:<name>:<path>:<offset>:..."): a held lease whose path does not
  exist any more is held on a deleted file (or on a path that was re-created
  as another file: that one still has a name and shows in neither view).
"""

import os

DELETED = " (deleted)"

# Run on a host: the fd links of every sanlock process, the daemon's resources, the lease directory listing.
COLLECT = ("for p in $(pidof sanlock); do for f in /proc/$p/fd/*; do readlink \"$f\"; done; done; echo ==; "
           "sanlock client status; echo ==; ls -1A {lease_dir}")


def deleted_open(fd_links, lease_dir):
    """Paths under lease_dir among readlink outputs of /proc/<pid>/fd/* that are marked deleted."""
    prefix = lease_dir.rstrip("/") + "/"
    return sorted(set(link[:-len(DELETED)] for link in fd_links
                      if link.startswith(prefix) and link.endswith(DELETED)))


def held_without_file(status, present, lease_dir):
    """Held resources (`sanlock client status` text) under lease_dir whose file is not in present (names)."""
    prefix = lease_dir.rstrip("/") + "/"
    found = []
    for line in status.splitlines():
        if not line.startswith("r "):
            continue
        fields = line[2:].split(":")
        if len(fields) < 3:
            continue
        path = fields[2]
        if path.startswith(prefix) and path[len(prefix):] not in present:
            found.append(path)
    return sorted(set(found))


def leases_on_deleted_files(collected, lease_dir):
    """From the output of COLLECT: sorted paths of leases a sanlock daemon has open or holds on deleted files."""
    links, status, listing = (collected.split("==\n", 2) + ["", ""])[:3]
    present = set(listing.split())
    return sorted(set(deleted_open(links.splitlines(), lease_dir)) | set(held_without_file(status, present,
                                                                                           lease_dir)))


def local_fd_links(pid):
    """readlink of every /proc/<pid>/fd entry of a local process (entries that vanish are skipped)."""
    links = []
    fd_dir = "/proc/%d/fd" % pid
    for entry in os.listdir(fd_dir):
        try:
            links.append(os.readlink(os.path.join(fd_dir, entry)))
        except OSError:
            pass
    return links
