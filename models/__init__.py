"""SQLModel tables, one module per resource. Importing this package registers every table."""

from models._base import Keyed
from models.api_token import ApiToken
from models.callback import Callback
from models.delivery import Delivery, DeliveryAttempt
from models.event import Event
from models.follower import Follower
from models.job import Job
from models.lease import Lease
from models.message import Message
from models.oauth_state import OAuthState
from models.official_account import OfficialAccount
from models.template import Template
from models.webhook import Webhook

__all__ = [
    "ApiToken",
    "Callback",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "Follower",
    "Job",
    "Keyed",
    "Lease",
    "Message",
    "OAuthState",
    "OfficialAccount",
    "Template",
    "Webhook",
]
