"""Adapters: the only modules that talk to outside systems (docker, netlink, DHCP, SSH, VCS,
templates, subprocesses). Each is thin and typed and translates its library's errors into
:class:`devbox.errors.DevboxError`."""
