"""The model APIs: a request's way from the client through routing to an upstream and back."""
