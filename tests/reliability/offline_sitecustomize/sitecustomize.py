"""Loaded by every Python process of the no-network test (PYTHONPATH): connections to anything but loopback or a
Unix socket fail at once and are recorded in $GHNERF_NET_LOG; $GHNERF_NET_LOADED gets one line per process."""

import os
import socket

_LOG = os.environ.get("GHNERF_NET_LOG")
_LOADED = os.environ.get("GHNERF_NET_LOADED")
if _LOADED:
    with open(_LOADED, "a") as _fp:
        _fp.write(f"{os.getpid()}\n")


def _is_local(address) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX path
    host = str(address[0])
    return host in ("localhost", "::1", "0.0.0.0", "") or host.startswith("127.")


def _guard(original):
    def connect(self, address, *args, **kwargs):
        if not _is_local(address):
            if _LOG:
                with open(_LOG, "a") as fp:
                    fp.write(f"{os.getpid()} {address!r}\n")
            raise OSError(101, f"network disabled for this test: {address!r}")
        return original(self, address, *args, **kwargs)

    return connect


socket.socket.connect = _guard(socket.socket.connect)
socket.socket.connect_ex = _guard(socket.socket.connect_ex)
