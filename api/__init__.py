"""The JSON API for other government systems: `api.v1.bp` serves /api/v1 (bearer tokens), and
`api.openapi` is its OpenAPI document."""
