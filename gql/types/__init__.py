"""One module per resource: each declares how its resource becomes GraphQL."""
