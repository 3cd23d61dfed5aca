from gql.factory import build
from resolvers.resources import TEMPLATES

built = build(TEMPLATES)
ZnsTemplate = built.type
ZnsTemplateQuery = built.query
ZnsTemplateMutation = built.mutation
