"""Emulator tests: the shared fixtures plus an in-process client for fast route tests."""

from __future__ import annotations

from tests.fixtures.emulator import *  # noqa: F403
