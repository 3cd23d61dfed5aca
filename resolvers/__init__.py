"""The service layer: plain async functions over a session, shared by GraphQL and tasks.

("resolvers" here is the package name the design card gives to this layer; Strawberry's field
resolvers live in ``gql``.) Nothing in this package imports ``strawberry`` or ``fastapi``.
Importing it registers the six resource declarations.
"""

from resolvers import resources as resources
