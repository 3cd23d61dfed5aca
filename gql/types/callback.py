from gql.factory import build
from resolvers.resources import CALLBACKS

built = build(CALLBACKS)
Callback = built.type
CallbackQuery = built.query
CallbackMutation = built.mutation
