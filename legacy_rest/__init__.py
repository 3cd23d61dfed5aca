"""The legacy v4 REST API, translated into GraphQL operations run in-process."""
