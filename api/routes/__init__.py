"""One router per resource; every path is under the API's version prefix."""

API_PREFIX = "/api/v1"
