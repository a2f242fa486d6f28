"""The bundled benchmark: customer-support procedures, an executable mock backend, a generator of
ALMITA-style conversations and tests, and a user simulator for end-to-end episodes."""
