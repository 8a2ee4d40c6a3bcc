"""Shared test support: Go toolchains and real Go services on 127.0.0.1."""
