from gql.factory import build
from resolvers import follower
from resolvers.resources import FOLLOWERS

built = build(FOLLOWERS, prepare_create=follower.prepare_create)
Follower = built.type
FollowerQuery = built.query
FollowerMutation = built.mutation
