"""The password goes to a remote MySQL server only in a form it cannot read, unless the link has TLS.

pymysql answers whatever authentication method the server asks for: `mysql_clear_password`
and `dialog` get the password as it is, and `sha256_password` or `caching_sha2_password`'s full
authentication get it RSA-encrypted with a public key the server itself sends. Over a link
without TLS (ssl mode `disabled`, or `preferred` with a server that offers none, which anyone on
the path can arrange by stripping the offer) each of these hands the password to whoever
answers. The mysql client refuses the same unless told otherwise (--enable-cleartext-plugin,
--get-server-public-key); `PasswordGuard` refuses them for hosts that are not this machine
(`drivers.common.transport.is_local`). Scrambled methods (mysql_native_password, the fast path
of caching_sha2_password, client_ed25519) reveal no password and work as before.
"""

from __future__ import annotations

from typing import Any

from osiris.drivers.common.transport import is_local
from osiris.runtime.driver import DriverError

__all__ = ["PasswordGuard", "PasswordRefused"]


class PasswordRefused(DriverError):
    """The server asked for the password in a form it can read, over a link without TLS."""

    def __init__(self, host: str, port: int, method: str) -> None:
        super().__init__(
            f"the MySQL server at {host}:{port} asked for the password in a form it can read ({method}) over "
            "a connection without TLS: Osiris did not send it (a server that refuses TLS, or anyone on the "
            "path, would have read it)",
            hint="require TLS for this alias: `ssl: {mode: verify_identity, ca: ...}` (or `required`); "
            "docs/connections.md, TLS",
        )


class PasswordGuard:
    """Mixed into the pymysql connection class (before it): refuses the methods above when the
    link has no TLS and the host is not this machine; the connection then fails with
    `PasswordRefused` before anything is sent."""

    _secure: bool
    unix_socket: Any
    host: str
    port: int
    _public_key: bytes | None = None

    def _exposed(self) -> bool:
        """Could a server or anyone on the path read what we send now? (No TLS, another machine.)"""
        return not self._secure and not self.unix_socket and not is_local(str(self.host))

    def _process_auth(self, plugin_name: bytes, auth_packet: Any, handler: Any = None) -> Any:
        # mysql_clear_password and dialog ("Password: ") send the password as it is
        if plugin_name in (b"mysql_clear_password", b"dialog") and self._exposed():
            raise PasswordRefused(self.host, self.port, plugin_name.decode())
        return super()._process_auth(plugin_name, auth_packet, handler)  # type: ignore[misc]

    @property
    def server_public_key(self) -> bytes | None:
        """pymysql reads this only to RSA-encrypt the password without TLS (sha256_password and
        caching_sha2_password's full authentication), with a key the server itself sends: whoever
        answers can decrypt it."""
        if self._exposed():
            raise PasswordRefused(self.host, self.port, "RSA with a key the server sends")
        return self._public_key

    @server_public_key.setter
    def server_public_key(self, value: bytes | None) -> None:
        self._public_key = value
