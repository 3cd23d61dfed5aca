from gql.factory import build
from resolvers import official_account
from resolvers.resources import OFFICIAL_ACCOUNTS

built = build(
    OFFICIAL_ACCOUNTS,
    prepare_create=official_account.prepare_create,
    prepare_update=official_account.prepare_update,
)
OfficialAccount = built.type
OfficialAccountQuery = built.query
OfficialAccountMutation = built.mutation
