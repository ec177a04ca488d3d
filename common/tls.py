"""TLS for the listeners (OTLP gRPC, OTLP HTTP, API): one certificate and key for all three,
and optionally a CA whose client certificates are then required (mutual TLS)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

__all__ = ["TlsConfig", "TlsError"]


class TlsError(ValueError):
    """The certificate, key or client CA cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert_file: Path
    """The server's certificate chain (PEM)."""
    key_file: Path
    """Its private key (PEM, unencrypted)."""
    client_ca_file: Path | None = None
    """With it, every client must present a certificate this CA signed."""

    def _read(self, path: Path, what: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TlsError(f"cannot read the TLS {what} {path}: {exc.strerror}") from None

    def server_context(self) -> ssl.SSLContext:
        """For the HTTP listeners (aiohttp)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"cannot use the TLS certificate {self.cert_file} with the key "
                           f"{self.key_file}: {exc}") from None
        if self.client_ca_file is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TlsError(f"cannot use the client CA {self.client_ca_file}: {exc}") from None
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """For the gRPC listener. Checked first with `server_context`, whose errors are
        clearer than gRPC's."""
        self.server_context()
        ca = None if self.client_ca_file is None else self._read(self.client_ca_file, "client CA")
        return grpc.ssl_server_credentials(
            [(self._read(self.key_file, "key"), self._read(self.cert_file, "certificate"))],
            root_certificates=ca, require_client_auth=ca is not None)
