"""Readings of memory from the operating system: /proc for the kernel process and the host,
cgroup files for the container's limit. Every probe takes a root path so tests can point it
at fixture trees, and reports what it could not read as plain-language notes."""
