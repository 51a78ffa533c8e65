"""Suite-wide settings."""

from __future__ import annotations

import os

from hypothesis import settings

# The package's pytest plugin (the token_server fixture), loaded here rather
# than through its entry point; see addopts in pyproject.toml.
pytest_plugins = ["sansio_auth.adapters.pytest_plugin"]

# Tests never assert on time, and hypothesis's per-example deadline is a
# timing assertion: on a noisy machine it fails tests that are right. CI
# (CI=true) also runs derandomized, so a red run is reproducible.
settings.register_profile("sansio-auth", deadline=None)
settings.register_profile(
    "sansio-auth-ci", deadline=None, derandomize=True, database=None
)
settings.load_profile("sansio-auth-ci" if os.environ.get("CI") else "sansio-auth")

# The fixtures of a real redis-server (redis_server, redis_url): they skip
# without one, or fail under CI=true.
pytest_plugins.append("redis_server")

# oidc-provider (npm), a real authorization server by others, for the
# interoperability tests (the oidc_provider fixture): it skips without Node or
# the packages .ci/install_oidc_provider installs, or fails under CI=true.
pytest_plugins.append("oidc_provider")
