"""The process: settings, one archive, both doors (DIMSE and HTTP), signals.

``medbridge.server.process`` starts and stops the doors; it is not re-exported here
because the doors import this package's `config` (a door reads its own settings), and
importing the process from here would make each door import the other.
"""

from medbridge.server.config import KnownAE, Role, ServerConfig, Token, load_config

__all__ = ["KnownAE", "Role", "ServerConfig", "Token", "load_config"]
