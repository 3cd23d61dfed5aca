"""SQLModel tables, one module per resource. Importing this package registers every table."""

from models._base import Keyed
from models.api_token import ApiToken
from models.callback import Callback
from models.follower import Follower
from models.message import Message
from models.official_account import OfficialAccount
from models.template import Template
from models.webhook import Webhook

__all__ = [
    "ApiToken",
    "Callback",
    "Follower",
    "Keyed",
    "Message",
    "OfficialAccount",
    "Template",
    "Webhook",
]
