"""Probe a Dask server with a raw comm (no Client, so nothing retries): is it answered?"""

from __future__ import annotations

import asyncio
import ssl

from distributed.comm import connect


async def identity(address: str, **connection_args) -> dict:
    """The server's reply to ``identity`` over a connection made with ``connection_args``."""
    comm = await connect(address, timeout="3s", **connection_args)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


def refused(address: str, **connection_args) -> bool:
    """Whether the server refuses to talk over this connection."""
    try:
        asyncio.run(identity(address, **connection_args))
    except (OSError, TimeoutError, ssl.SSLError, ValueError, TypeError):
        return True
    return False
