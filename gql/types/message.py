from gql.factory import build
from resolvers import message
from resolvers.resources import MESSAGES

built = build(MESSAGES, prepare_create=message.prepare_create)
Message = built.type
MessageQuery = built.query
MessageMutation = built.mutation
