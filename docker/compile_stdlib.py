"""Compile the standard library's bytecode for what the service imports, in the image's final stage.

The official python images ship their standard library without bytecode (it is left out to keep
them small), and the image runs read-only with PYTHONDONTWRITEBYTECODE: without this step, every
process compiles each standard module it imports again at each start: each worker, and each
healthcheck probe. Only the modules a start imports are compiled (the server with its settings,
the app, uvicorn's event loop and HTTP protocol, the probe): the whole library's bytecode would be
twice the size. Modules the base already has bytecode for are left as they are. Hash-based and
unchecked, as the environment's (see the Dockerfile): valid whatever times the files carry.

The app is built with the settings' defaults, never read from the build's environment: a setting
that is required, or invalid, where the image is built must not fail the build.
"""

import importlib.util
import os
import py_compile
import sys
import sysconfig

import uvicorn

import app.healthcheck  # noqa: F401
from app import server
from app.main import create_app
from app.settings import Settings

# What `python -m app.server` imports before serving: the app (create_app), the loop, the protocol.
settings = Settings.model_construct()
uvicorn.Config(**{**server.options(settings), "app": create_app(settings), "factory": False}).load()

stdlib = sysconfig.get_path("stdlib") + os.sep
for module in list(sys.modules.values()):
    source = getattr(module, "__file__", None) or ""
    if not (source.startswith(stdlib) and source.endswith(".py")):
        continue
    if os.path.exists(importlib.util.cache_from_source(source)):
        continue
    py_compile.compile(
        source, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
