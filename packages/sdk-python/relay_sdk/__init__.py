"""Python SDK for Relay, the relay between apps and AI agents.

Apps send events and stream the answers with ``AppClient``; agents answer them with
``AgentClient``. Both reconnect on their own; see each class for what it guarantees.
"""

from .agent_client import AgentClient
from .agent_reply import Reply
from .app_client import AppClient
from .backoff import Backoff
from .connection import Heartbeat
from .errors import CLOSED, UNAUTHORIZED, RelayError
from .event_handle import EventHandle, Restart

__all__ = ["AgentClient", "AppClient", "Backoff", "CLOSED", "EventHandle", "Heartbeat", "RelayError", "Reply", "Restart", "UNAUTHORIZED"]
