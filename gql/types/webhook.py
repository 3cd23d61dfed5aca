from gql.factory import build
from resolvers.resources import WEBHOOKS

built = build(WEBHOOKS)
Webhook = built.type
WebhookQuery = built.query
WebhookMutation = built.mutation
